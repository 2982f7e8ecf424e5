"""Checks on the store's topics and records: layout, configs, keys, offsets, retention and
compaction."""

from __future__ import annotations

from kcli.learn.checks.base import Context, Finding, check, plural, text_of


@check("topic")
def _topic(ctx: Context, spec: dict) -> list[Finding]:
    """The topic exists, with exactly ``partitions`` partitions and the given config values."""
    name = spec["topic"]
    meta = ctx.topic(name)
    out = [Finding(True, f"topic '{name}' exists")]
    want = spec.get("partitions")
    if want is not None:
        if meta.partitions == want:
            out.append(Finding(True, f"topic '{name}' has {plural(want, 'partition')}"))
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
                    f"topic '{name}' has {plural(meta.partitions, 'partition')}, the exercise "
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
            if key is not None and text_of(r.key) != key:
                continue
            if value is not None and text_of(r.value) != value:
                continue
            count += 1
    what = "record"
    if key is not None:
        what += f" with key '{key}'"
    if value is not None:
        what += f" with value '{value}'"
    where = f"topic '{name}'" + (f" partition {spec['partition']}" if "partition" in spec else "")
    if count >= want:
        return [Finding(True, f"{where} has {plural(count, what)}")]
    return [
        Finding(False, f"{where} has {plural(count, what)}; the exercise wants at least {want}")
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
    if want is not None and text_of(record.value) != want:
        return [
            Finding(
                False,
                f"the record at {where} is '{text_of(record.value)}', not '{want}'; a record's "
                f"offset never changes, so {ctx.start_again()}",
            )
        ]
    return [Finding(True, f"the record at {where} is '{text_of(record.value)}'")]


@check("every_partition")
def _every_partition(ctx: Context, spec: dict) -> list[Finding]:
    """Every partition of the topic holds at least ``min`` records."""
    name, want = spec["topic"], int(spec.get("min", 1))
    meta = ctx.topic(name)
    out = []
    for p in range(meta.partitions):
        log = ctx.store.log(name, p)
        n = log.log_end_offset - log.log_start_offset
        msg = f"partition {p} of '{name}' holds {plural(n, 'record')}"
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
            k = text_of(r.key)
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
                    f"topic '{name}' has {plural(total, 'record')} with key '{k}'; the "
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
    msg = f"topic '{name}' has records from {plural(len(keys), 'different key')}"
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
        Finding(True, f"all {plural(total, 'record')} of '{name}' are still there after reading")
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
    twice = sorted(text_of(k) or "" for k, n in seen.items() if n > 1)
    removed = log.log_end_offset - log.log_start_offset - len(records)
    if twice:
        out.append(Finding(False, f"the cleaned part still holds keys twice: {', '.join(twice)}"))
    else:
        out.append(
            Finding(
                True,
                f"the cleaned part of {name}-{p} (offsets {section.log_start_offset}.."
                f"{section.first_dirty_offset - 1}) holds one record per key; the cleaner "
                f"removed {plural(removed, 'record')}",
            )
        )
    latest = {text_of(r.key): text_of(r.value) for r in records}
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
