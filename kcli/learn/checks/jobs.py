"""Checks on what a job (a pipeline from one topic to another) wrote: copies, filters and
replays, judged against the source topic."""

from __future__ import annotations

from collections import Counter

from kcli.learn.checks.base import Context, Finding, check, plural, text_of
from kcli.learn.checks.groups import rerun


@check("same_keys")
def _same_keys(ctx: Context, spec: dict) -> list[Finding]:
    """``target`` holds a record for every record of ``source``, with the same key.

    With ``group`` (the job that copies source to target): when the group has already read
    everything, running the job again writes nothing, so the advice is to start again."""

    source, target = spec["source"], spec["target"]
    counts = []
    for name in (source, target):
        meta = ctx.topic(name)
        counts.append(
            Counter(text_of(r.key) for p in range(meta.partitions) for r in ctx.records(name, p))
        )
    src, dst = counts
    missing = src - dst
    if not src:
        return [Finding(False, f"topic '{source}' is empty; produce to it first")]
    if missing:
        n = sum(missing.values())
        msg = (
            f"topic '{target}' lacks {plural(n, 'record')} of '{source}' (with the same "
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
    return f"; {rerun(ctx, spec, source, group)}"


@check("filtered")
def _filtered(ctx: Context, spec: dict) -> list[Finding]:
    """``target`` holds exactly the records of ``source`` whose value is above ``above``."""

    source, target, above = spec["source"], spec["target"], float(spec["above"])

    def pairs(name: str) -> Counter:
        meta = ctx.topic(name)
        return Counter(
            (text_of(r.key), text_of(r.value) or "")
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
                f"topic '{target}' has {plural(sum(extra[kv] for kv in low), 'reading')} of "
                f"{above:g} or less (such as {key} {value}): the filter let them through; records "
                f"cannot be taken out of a topic, so {ctx.start_again()}",
            )
        ]
    if extra:
        return [
            Finding(
                False,
                f"topic '{target}' has {plural(sum(extra.values()), 'record')} that are not "
                f"readings of '{source}' above {above:g} (or are there twice); "
                f"{ctx.start_again()}",
            )
        ]
    if missing:
        msg = (
            f"topic '{target}' has {plural(sum(dst.values()), 'reading')}; '{source}' has "
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
    want = [text_of(r.value) for r in ctx.records(source, 0) if r.offset >= start]
    got = [text_of(r.value) for p in range(meta.partitions) for r in ctx.records(target, p)]
    if got == want and want:
        return [
            Finding(
                True,
                f"topic '{target}' holds the replay of '{source}' from offset {start} "
                f"({plural(len(want), 'record')}, in order)",
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
    return f"{plural(len(values), 'record')} ({shown}{more})" if values else "nothing"
