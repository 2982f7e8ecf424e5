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

    def __init__(self, data_dir: Path):
        from kcli.backends.local import LocalBackend

        self.data_dir = Path(data_dir)
        self._local = LocalBackend(self.data_dir)

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
            fix = (
                f"kcli topic alter {name} --partitions {want}"
                if want > meta.partitions
                else f"kcli topic delete {name}, then create it with --partitions {want}"
            )
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
        return [Finding(False, f"the record at {where} is '{_text(record.value)}', not '{want}'")]
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
                    f"to partition {expected} - produce them with --key {k} and without "
                    f"--partition",
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
    """``target`` holds a record for every record of ``source``, with the same key."""
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
        return [
            Finding(
                False,
                f"topic '{target}' lacks {_plural(n, 'record')} of '{source}' (with the same "
                f"key): it has {sum(dst.values())}, '{source}' has {sum(src.values())}",
            )
        ]
    return [
        Finding(
            True, f"every one of the {sum(src.values())} records of '{source}' is in '{target}'"
        )
    ]


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
    if spec.get("caught_up"):
        out.extend(_caught_up(ctx, group, topic))
    return out


def _caught_up(ctx: Context, group: str, topic: str) -> list[Finding]:
    lag = ctx.lag(group, topic)
    never = [p for p, v in lag.items() if v is None]
    behind = {p: v for p, v in lag.items() if v}
    if never:
        return [
            Finding(
                False,
                f"group '{group}' has committed no offset for partition(s) "
                f"{', '.join(map(str, never))} of '{topic}' (consume with --group {group})",
            )
        ]
    if behind:
        total = sum(behind.values())
        return [
            Finding(
                False,
                f"group '{group}' is {_plural(total, 'record')} behind on '{topic}' (lag {total}); "
                f"consume the rest with: kcli consume {topic} --group {group}",
            )
        ]
    return [Finding(True, f"group '{group}' has read and committed all of '{topic}' (lag 0)")]


@check("groups_caught_up")
def _groups_caught_up(ctx: Context, spec: dict) -> list[Finding]:
    """At least ``min`` groups have each read the whole topic independently (lag 0)."""
    topic, want = spec["topic"], int(spec.get("min", 2))
    ctx.topic(topic)
    done = []
    for summary in ctx.groups.list_groups():
        lag = ctx.lag(summary.group, topic)
        if lag and all(v == 0 for v in lag.values()):
            done.append(summary.group)
    ok = len(done) >= want
    names = ", ".join(sorted(done)) or "none"
    msg = f"{_plural(len(done), 'group')} read all of '{topic}' ({names})"
    if not ok:
        msg += f"; the exercise wants {want} (kcli consume {topic} --group NAME, once per name)"
    return [Finding(ok, msg)]


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


def run_checks(specs: tuple[dict, ...] | list[dict], data_dir: Path) -> CheckReport:
    """Judge every check of a lesson against the store in ``data_dir``."""
    ctx = Context(data_dir)
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
