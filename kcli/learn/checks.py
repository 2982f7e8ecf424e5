"""The checks a lesson's front matter names, judged on the store's state.

Each check is a small dict in the lesson's front matter, e.g. ``{kind: records, topic: signups,
min: 3}``.  Its ``kind`` picks a function below; the function reads the store through the
storage API (``Store``, ``GroupStore``) and returns findings, each either met or saying
exactly what is missing and how to get there.  Nothing here looks at what the learner typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kcli.errors import KcliError


@dataclass(frozen=True)
class Finding:
    """One requirement of a check: met or not, in words a learner understands."""

    ok: bool
    message: str


@dataclass(frozen=True)
class CheckReport:
    """All findings of a lesson's checks; passed when every one is met."""

    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def missing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)


class _Missing(Exception):
    """A requirement that cannot even be looked at (no such topic); stops that check."""


class Context:
    """What checks read: the store and its consumer-group state, opened lazily."""

    def __init__(self, data_dir: Path, lesson_number: int | None = None):
        from kcli.local.backend import LocalBackend

        self.data_dir = Path(data_dir)
        self.lesson_number = lesson_number
        self._local = LocalBackend(self.data_dir)

    def start_again(self) -> str:
        """The advice for a state that cannot be put right in place (records never move)."""
        lesson = f" {self.lesson_number}" if self.lesson_number is not None else ""
        return f"start the exercise again with: kcli learn reset{lesson}"

    @property
    def store(self):
        return self._local.store

    @property
    def groups(self):
        return self._local.groups()

    def close(self) -> None:
        self._local.close()

    def topic(self, name: str):
        if not self.store.topic_exists(name):
            raise _Missing(
                f"topic '{name}' does not exist yet (create it with: kcli topic create {name})"
            )
        return self.store.topic(name)

    def records(self, topic: str, partition: int) -> Iterator:
        log = self.store.log(topic, partition)
        offset = log.log_start_offset
        while True:
            chunk = log.read_records(offset, max_records=5000)
            if not chunk:
                return
            yield from chunk
            offset = chunk[-1].offset + 1

    def describe_group(self, group: str):
        from storage.groups import GroupNotFound

        try:
            return self.groups.describe_group(group)
        except GroupNotFound:
            raise _Missing(
                f"consumer group '{group}' does not exist yet (it appears when a consumer runs "
                f"with: kcli consume TOPIC --group {group})"
            ) from None

    def lag(self, group: str, topic: str) -> dict[int, int | None]:
        """Lag per partition of ``topic`` for ``group`` (None: nothing committed)."""
        meta = self.topic(topic)
        committed = self.groups.fetch_offsets(group, [(topic, p) for p in range(meta.partitions)])
        out: dict[int, int | None] = {}
        for p in range(meta.partitions):
            end = self.store.log(topic, p).log_end_offset
            c = committed.get((topic, p))
            out[p] = None if c is None or c.offset < 0 else max(end - c.offset, 0)
        return out


CheckFn = Callable[[Context, dict], list[Finding]]
CHECKS: dict[str, CheckFn] = {}


def check(kind: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[kind] = fn
        return fn

    return register


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


@check("topic")
def _topic(ctx: Context, spec: dict) -> list[Finding]:
    """The topic exists, with exactly ``partitions`` partitions and the given config values."""
    name = spec["topic"]
    meta = ctx.topic(name)
    out = [Finding(True, f"topic '{name}' exists")]
    want = spec.get("partitions")
    if want is not None:
        if meta.partitions == want:
            out.append(Finding(True, f"topic '{name}' has {_plural(want, 'partition')}"))
        else:
            if want > meta.partitions and _has_keys(ctx, name, meta.partitions):
                # Adding partitions moves keys: the keyed records already there would end up
                # in other partitions than new records with the same key.
                fix = f"adding partitions now would move its keys; {ctx.start_again()}"
            elif want > meta.partitions:
                fix = f"kcli topic alter {name} --partitions {want}"
            else:
                fix = f"kcli topic delete {name}, then create it with --partitions {want}"
            out.append(
                Finding(
                    False,
                    f"topic '{name}' has {_plural(meta.partitions, 'partition')}, the exercise "
                    f"wants {want} ({fix})",
                )
            )
    for key, value in (spec.get("config") or {}).items():
        actual = meta.config.to_kafka().get(key)
        if str(actual) == str(value):
            out.append(Finding(True, f"topic '{name}' has {key}={value}"))
        else:
            out.append(
                Finding(
                    False,
                    f"topic '{name}' has {key}={actual}, the exercise wants {value} "
                    f"(kcli topic alter {name} --config {key}={value})",
                )
            )
    return out


def _has_keys(ctx: Context, name: str, partitions: int) -> bool:
    return any(r.key is not None for p in range(partitions) for r in ctx.records(name, p))


@check("records")
def _records(ctx: Context, spec: dict) -> list[Finding]:
    """At least ``min`` records (in ``partition``, with ``key``, with ``value``, if given)."""
    name = spec["topic"]
    meta = ctx.topic(name)
    partitions = [spec["partition"]] if "partition" in spec else range(meta.partitions)
    key, value, want = spec.get("key"), spec.get("value"), int(spec.get("min", 1))
    count = 0
    for p in partitions:
        if p >= meta.partitions:
            return [Finding(False, f"topic '{name}' has no partition {p}")]
        for r in ctx.records(name, p):
            if key is not None and _text(r.key) != key:
                continue
            if value is not None and _text(r.value) != value:
                continue
            count += 1
    what = "record"
    if key is not None:
        what += f" with key '{key}'"
    if value is not None:
        what += f" with value '{value}'"
    where = f"topic '{name}'" + (f" partition {spec['partition']}" if "partition" in spec else "")
    if count >= want:
        return [Finding(True, f"{where} has {_plural(count, what)}")]
    return [
        Finding(False, f"{where} has {_plural(count, what)}; the exercise wants at least {want}")
    ]


@check("record_at")
def _record_at(ctx: Context, spec: dict) -> list[Finding]:
    """The record at topic + partition + offset has the given value."""
    name, p, offset = spec["topic"], int(spec["partition"]), int(spec["offset"])
    meta = ctx.topic(name)
    where = f"{name} partition {p} offset {offset}"
    if p >= meta.partitions:
        return [Finding(False, f"topic '{name}' has no partition {p}")]
    log = ctx.store.log(name, p)
    if not log.log_start_offset <= offset < log.log_end_offset:
        return [
            Finding(
                False,
                f"there is no record at {where} yet (partition {p} holds offsets "
                f"{log.log_start_offset} to {log.log_end_offset - 1})"
                if log.log_end_offset > log.log_start_offset
                else f"there is no record at {where} yet (partition {p} is empty)",
            )
        ]
    record = log.read_records(offset, max_records=1)[0]
    want = spec.get("value")
    if want is not None and _text(record.value) != want:
        return [
            Finding(
                False,
                f"the record at {where} is '{_text(record.value)}', not '{want}'; a record's "
                f"offset never changes, so {ctx.start_again()}",
            )
        ]
    return [Finding(True, f"the record at {where} is '{_text(record.value)}'")]


@check("every_partition")
def _every_partition(ctx: Context, spec: dict) -> list[Finding]:
    """Every partition of the topic holds at least ``min`` records."""
    name, want = spec["topic"], int(spec.get("min", 1))
    meta = ctx.topic(name)
    out = []
    for p in range(meta.partitions):
        log = ctx.store.log(name, p)
        n = log.log_end_offset - log.log_start_offset
        msg = f"partition {p} of '{name}' holds {_plural(n, 'record')}"
        out.append(Finding(n >= want, msg if n >= want else f"{msg}; the exercise wants {want}+"))
    return out


@check("keys_together")
def _keys_together(ctx: Context, spec: dict) -> list[Finding]:
    """Each key's records all sit in one partition: the one Kafka's murmur2 picks."""
    from storage import partition_for_key

    name = spec["topic"]
    meta = ctx.topic(name)
    keys = [str(k) for k in spec["keys"]]
    want = int(spec.get("min_each", 1))
    seen: dict[str, dict[int, int]] = {k: {} for k in keys}
    for p in range(meta.partitions):
        for r in ctx.records(name, p):
            k = _text(r.key)
            if k in seen:
                seen[k][p] = seen[k].get(p, 0) + 1
    out = []
    for k in keys:
        where = seen[k]
        total = sum(where.values())
        expected = partition_for_key(k.encode(), meta.partitions)
        if total < want:
            out.append(
                Finding(
                    False,
                    f"topic '{name}' has {_plural(total, 'record')} with key '{k}'; the "
                    f"exercise wants {want} (kcli produce {name} --key {k} VALUE)",
                )
            )
        elif set(where) != {expected}:
            parts = ", ".join(str(p) for p in sorted(where))
            out.append(
                Finding(
                    False,
                    f"records with key '{k}' are in partition(s) {parts}; keyed records all go "
                    f"to partition {expected} when produced with --key {k} and without "
                    f"--partition, and records never move, so {ctx.start_again()}",
                )
            )
        else:
            out.append(
                Finding(True, f"all {total} records with key '{k}' are in partition {expected}")
            )
    return out


@check("distinct_keys")
def _distinct_keys(ctx: Context, spec: dict) -> list[Finding]:
    """The topic holds records with at least ``min`` different keys."""
    name, want = spec["topic"], int(spec["min"])
    meta = ctx.topic(name)
    keys = {r.key for p in range(meta.partitions) for r in ctx.records(name, p) if r.key}
    msg = f"topic '{name}' has records from {_plural(len(keys), 'different key')}"
    return [Finding(len(keys) >= want, msg if len(keys) >= want else f"{msg}; wanted {want}+")]


@check("log_start")
def _log_start(ctx: Context, spec: dict) -> list[Finding]:
    """Retention has deleted something: ``log_start_offset`` of a partition moved past ``min``."""
    name, p, want = spec["topic"], int(spec.get("partition", 0)), int(spec.get("min", 1))
    ctx.topic(name)
    start = ctx.store.log(name, p).log_start_offset
    if start >= want:
        return [Finding(True, f"log_start_offset of {name}-{p} moved to {start}: retention ran")]
    return [
        Finding(
            False,
            f"log_start_offset of {name}-{p} is still {start}: no segment has been deleted yet "
            f"(segments roll when full; retention deletes closed segments older than "
            f"retention.ms when the next one rolls)",
        )
    ]


@check("same_keys")
def _same_keys(ctx: Context, spec: dict) -> list[Finding]:
    """``target`` holds a record for every record of ``source``, with the same key.

    With ``group`` (the job that copies source to target): when the group has already read
    everything, running the job again writes nothing, so the advice is to start again."""
    from collections import Counter

    source, target = spec["source"], spec["target"]
    counts = []
    for name in (source, target):
        meta = ctx.topic(name)
        counts.append(
            Counter(_text(r.key) for p in range(meta.partitions) for r in ctx.records(name, p))
        )
    src, dst = counts
    missing = src - dst
    if not src:
        return [Finding(False, f"topic '{source}' is empty; produce to it first")]
    if missing:
        n = sum(missing.values())
        msg = (
            f"topic '{target}' lacks {_plural(n, 'record')} of '{source}' (with the same "
            f"key): it has {sum(dst.values())}, '{source}' has {sum(src.values())}"
        )
        return [Finding(False, msg + _job_advice(ctx, spec, source))]
    return [
        Finding(
            True, f"every one of the {sum(src.values())} records of '{source}' is in '{target}'"
        )
    ]


def _job_advice(ctx: Context, spec: dict, source: str) -> str:
    """What to do when a job's output lacks records: run it again, unless it cannot help."""
    group = spec.get("group")
    if group is None:
        return ""
    lag = ctx.lag(group, source) if ctx.store.topic_exists(source) else {}
    if lag and all(v == 0 for v in lag.values()):
        return (
            f"; group '{group}' has already committed past them, so running the job again "
            f"would not write them: {ctx.start_again()}"
        )
    return f"; {_rerun(ctx, spec, source, group)}"


def _rerun(ctx: Context, spec: dict, topic: str, group: str) -> str:
    """How to read the rest: the lesson's own job when it has one (a bare consume would
    commit the offsets and skip the job's work), else a plain consume in the group."""
    if spec.get("job"):
        return f"run the {spec['job']} again (kcli learn hint {ctx.lesson_number} --solution)"
    return f"consume the rest with: kcli consume {topic} --group {group}"


@check("filtered")
def _filtered(ctx: Context, spec: dict) -> list[Finding]:
    """``target`` holds exactly the records of ``source`` whose value is above ``above``."""
    from collections import Counter

    source, target, above = spec["source"], spec["target"], float(spec["above"])

    def pairs(name: str) -> Counter:
        meta = ctx.topic(name)
        return Counter(
            (_text(r.key), _text(r.value) or "")
            for p in range(meta.partitions)
            for r in ctx.records(name, p)
        )

    src, dst = pairs(source), pairs(target)
    wanted = Counter({kv: n for kv, n in src.items() if _number(kv[1]) > above})
    extra, missing = dst - wanted, wanted - dst
    low = [kv for kv in extra if kv in src and _number(kv[1]) <= above]
    if low:
        key, value = low[0]
        return [
            Finding(
                False,
                f"topic '{target}' has {_plural(sum(extra[kv] for kv in low), 'reading')} of "
                f"{above:g} or less (such as {key} {value}): the filter let them through; records "
                f"cannot be taken out of a topic, so {ctx.start_again()}",
            )
        ]
    if extra:
        return [
            Finding(
                False,
                f"topic '{target}' has {_plural(sum(extra.values()), 'record')} that are not "
                f"readings of '{source}' above {above:g} (or are there twice); "
                f"{ctx.start_again()}",
            )
        ]
    if missing:
        msg = (
            f"topic '{target}' has {_plural(sum(dst.values()), 'reading')}; '{source}' has "
            f"{sum(wanted.values())} above {above:g}"
        )
        return [Finding(False, msg + _job_advice(ctx, spec, source))]
    return [
        Finding(
            True,
            f"topic '{target}' holds exactly the {sum(wanted.values())} readings of '{source}' "
            f"above {above:g}",
        )
    ]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("-inf")


@check("replay")
def _replay(ctx: Context, spec: dict) -> list[Finding]:
    """``target`` holds the values of ``source`` partition 0 from ``from_offset`` on, in order:
    a replay of the log, kept."""
    source, target, start = spec["source"], spec["target"], int(spec["from_offset"])
    ctx.topic(source)
    meta = ctx.topic(target)
    want = [_text(r.value) for r in ctx.records(source, 0) if r.offset >= start]
    got = [_text(r.value) for p in range(meta.partitions) for r in ctx.records(target, p)]
    if got == want and want:
        return [
            Finding(
                True,
                f"topic '{target}' holds the replay of '{source}' from offset {start} "
                f"({_plural(len(want), 'record')}, in order)",
            )
        ]
    if not got:
        return [
            Finding(
                False,
                f"topic '{target}' is empty; replay '{source}' from offset {start} into it "
                f"(kcli consume {source} --from-offset {start} | kcli produce {target})",
            )
        ]
    return [
        Finding(
            False,
            f"topic '{target}' holds {_shorten(got)}, but '{source}' from offset {start} is "
            f"{_shorten(want)}; records cannot be taken out of a topic, so delete it "
            f"(kcli topic delete {target}), create it again and replay once more",
        )
    ]


def _shorten(values: list[str | None], limit: int = 4) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"{_plural(len(values), 'record')} ({shown}{more})" if values else "nothing"


@check("group")
def _group(ctx: Context, spec: dict) -> list[Finding]:
    """A consumer group: live members, idle members, committed offsets and lag."""
    group, topic = spec["group"], spec["topic"]
    ctx.topic(topic)
    desc = ctx.describe_group(group)
    out = [Finding(True, f"consumer group '{group}' exists")]
    members = len(desc.members)
    want_members = spec.get("min_members")
    if want_members is not None:
        ok = members >= want_members
        msg = f"group '{group}' has {_plural(members, 'live member')}"
        if not ok:
            msg += (
                f"; the exercise wants {want_members} running at the same time (start them "
                f"with --follow in separate terminals and keep them running while you check)"
            )
        out.append(Finding(ok, msg))
    want_idle = spec.get("idle_members")
    if want_idle is not None:
        idle = sum(1 for m in desc.members if not m.assignment)
        ok = idle >= want_idle
        msg = f"group '{group}' has {_plural(idle, 'idle member')} (no partitions assigned)"
        if not ok:
            msg += f"; start more consumers than '{topic}' has partitions"
        out.append(Finding(ok, msg))
    if spec.get("owners_unique", False) or want_members:
        owners: dict[tuple[str, int], int] = {}
        for m in desc.members:
            for tp in m.assignment:
                owners[tuple(tp)] = owners.get(tuple(tp), 0) + 1
        shared = [tp for tp, n in owners.items() if n > 1]
        out.append(
            Finding(
                not shared,
                "no partition has two owners in the group"
                if not shared
                else f"partition(s) {shared} have more than one owner",
            )
        )
    want_protocol = spec.get("protocol")
    if want_protocol is not None:
        ok = desc.protocol == want_protocol
        msg = f"group '{group}' rebalances {desc.protocol or 'not at all (no members)'}"
        if not ok:
            msg += (
                f"; the exercise wants {want_protocol} (start every consumer with "
                f"--assignor cooperative-sticky)"
            )
        out.append(Finding(ok, msg))
    if spec.get("two_rounds"):
        out.append(_two_rounds(desc))
    if spec.get("caught_up"):
        out.extend(_caught_up(ctx, spec, group, topic, live=members > 0))
    return out


def _two_rounds(desc) -> Finding:
    """A cooperative rebalance in two rounds: one generation left revoked partitions waiting,
    the next gave every one of them to a member."""
    records = list(desc.rebalances)
    for first, second in zip(records, records[1:], strict=False):
        given = {tp for _mid, tps in second.added for tp in tps}
        if first.waiting and set(first.waiting) <= given:
            moved = ", ".join(f"{t}-{p}" for t, p in first.waiting)
            return Finding(
                True,
                f"generation {first.generation} revoked {moved}, generation "
                f"{second.generation} assigned it: a rebalance in two rounds",
            )
    return Finding(
        False,
        f"no rebalance of group '{desc.group}' moved a partition in two rounds yet; add a "
        f"consumer to the running group (all with --assignor cooperative-sticky)",
    )


def _caught_up(ctx: Context, spec: dict, group: str, topic: str, *, live: bool) -> list[Finding]:
    lag = ctx.lag(group, topic)
    never = [p for p, v in lag.items() if v is None]
    behind = {p: v for p, v in lag.items() if v}
    if live and (never or behind):
        # Running members commit as they go: another consumer started now would only
        # trigger a rebalance, so the advice is to let them work.
        fix = "its running consumers commit every few seconds: wait a moment and check again"
    else:
        fix = _rerun(ctx, spec, topic, group)
    if never:
        return [
            Finding(
                False,
                f"group '{group}' has committed no offset for partition(s) "
                f"{', '.join(map(str, never))} of '{topic}'; {fix}",
            )
        ]
    if behind:
        total = sum(behind.values())
        return [
            Finding(
                False,
                f"group '{group}' is {_plural(total, 'record')} behind on '{topic}' (lag {total}); "
                f"{fix}",
            )
        ]
    return [Finding(True, f"group '{group}' has read and committed all of '{topic}' (lag 0)")]


@check("groups_caught_up")
def _groups_caught_up(ctx: Context, spec: dict) -> list[Finding]:
    """Each of the named ``groups`` has read the whole topic independently (lag 0)."""
    topic = spec["topic"]
    ctx.topic(topic)
    known = {summary.group for summary in ctx.groups.list_groups()}
    out = []
    for group in spec["groups"]:
        if group not in known:
            others = sorted(g for g in known if not g.startswith("demo-"))
            seen = f" (groups so far: {', '.join(others)})" if others else ""
            out.append(
                Finding(
                    False,
                    f"consumer group '{group}' does not exist yet{seen}; it appears when a "
                    f"consumer runs with: kcli consume {topic} --group {group}",
                )
            )
            continue
        out.extend(_caught_up(ctx, spec, group, topic, live=False))
    return out


@check("log_intact")
def _log_intact(ctx: Context, spec: dict) -> list[Finding]:
    """Consuming deleted nothing: every partition still starts at offset 0."""
    name = spec["topic"]
    meta = ctx.topic(name)
    moved = [p for p in range(meta.partitions) if ctx.store.log(name, p).log_start_offset > 0]
    if moved:
        return [Finding(False, f"partitions {moved} of '{name}' no longer start at offset 0")]
    total = sum(ctx.store.log(name, p).log_end_offset for p in range(meta.partitions))
    return [
        Finding(True, f"all {_plural(total, 'record')} of '{name}' are still there after reading")
    ]


@check("compacted")
def _compacted(ctx: Context, spec: dict) -> list[Finding]:
    """A compacted topic whose cleaned log is a table: the cleaner has run, the cleaned
    section holds at most one record per key, every key of ``keys`` still has a value and
    no key of ``deleted`` has one any more (a tombstone, kept or already dropped)."""
    name, p = spec["topic"], int(spec.get("partition", 0))
    meta = ctx.topic(name)
    if not meta.config.compacted:
        return [
            Finding(
                False,
                f"topic '{name}' has cleanup.policy={meta.config.cleanup_policy}; compaction "
                f"needs cleanup.policy=compact (kcli topic alter {name} --config "
                f"cleanup.policy=compact)",
            )
        ]
    out = [
        Finding(True, f"topic '{name}' is compacted (cleanup.policy={meta.config.cleanup_policy})")
    ]
    log = ctx.store.log(name, p)
    section = ctx.store.cleaner.section(log)
    if section.first_dirty_offset <= section.log_start_offset:
        return out + [
            Finding(
                False,
                f"the cleaner has not cleaned {name}-{p} yet: it only cleans closed segments "
                f"(produce until a new segment rolls), then run: kcli topic compact {name}",
            )
        ]
    records = list(ctx.records(name, p))
    cleaned = [r for r in records if r.offset < section.first_dirty_offset]
    seen: dict[bytes | None, int] = {}
    for r in cleaned:
        seen[r.key] = seen.get(r.key, 0) + 1
    twice = sorted(_text(k) or "" for k, n in seen.items() if n > 1)
    removed = log.log_end_offset - log.log_start_offset - len(records)
    if twice:
        out.append(Finding(False, f"the cleaned part still holds keys twice: {', '.join(twice)}"))
    else:
        out.append(
            Finding(
                True,
                f"the cleaned part of {name}-{p} (offsets {section.log_start_offset}.."
                f"{section.first_dirty_offset - 1}) holds one record per key; the cleaner "
                f"removed {_plural(removed, 'record')}",
            )
        )
    latest = {_text(r.key): _text(r.value) for r in records}
    for key in spec.get("keys", ()):
        if latest.get(key) is None:
            out.append(
                Finding(
                    False, f"key '{key}' has no value in '{name}' (produce one with --key {key})"
                )
            )
        else:
            out.append(Finding(True, f"key '{key}' is in the table: {latest[key]}"))
    for key in spec.get("deleted", ()):
        if latest.get(key) is not None:
            out.append(
                Finding(
                    False,
                    f"key '{key}' still has a value; delete it with a tombstone: echo "
                    f'\'{{"key": "{key}", "value": null}}\' | kcli produce {name} -i json',
                )
            )
        else:
            out.append(Finding(True, f"key '{key}' is deleted (a tombstone)"))
    return out


def run_checks(
    specs: tuple[dict, ...] | list[dict], data_dir: Path, lesson_number: int | None = None
) -> CheckReport:
    """Judge every check of a lesson against the store in ``data_dir``.

    ``lesson_number`` lets the advice name the lesson (``kcli learn reset N``)."""
    ctx = Context(data_dir, lesson_number)
    findings: list[Finding] = []
    try:
        for spec in specs:
            kind = spec.get("kind")
            fn = CHECKS.get(kind)
            if fn is None:
                raise KcliError(
                    f"unknown check kind {kind!r} in a lesson; known kinds: {', '.join(sorted(CHECKS))}"
                )
            try:
                findings.extend(fn(ctx, spec))
            except _Missing as exc:
                findings.append(Finding(False, str(exc)))
    finally:
        ctx.close()
    # Several checks may stop on the same missing topic: say it once.
    unique = list(dict.fromkeys(findings))
    return CheckReport(tuple(unique))
