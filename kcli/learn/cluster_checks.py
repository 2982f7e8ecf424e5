"""The checks of the cluster lessons, judged on what ``kcli cluster`` left on disk.

A cluster keeps its history in the controller's metadata log
(``<data-dir>/cluster/controller/metadata.log``, Kafka's metadata records as JSON lines) and
each broker's partitions in its own log directory (``<data-dir>/cluster/broker-<id>/``, a store
in Kafka's layout).  These checks replay the metadata log, as a broker does, and read the
brokers' logs directly: they need no running cluster and no timing.  A broker's refusals
(NOT_ENOUGH_REPLICAS) are read from its own log file (``broker-<id>.log``), where it writes
every failed produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kcli.learn.checks import Context, Finding, _Missing, _plural, check
from storage import StorageError, Store

_START = "start the cluster with: kcli cluster start --brokers 4"


@dataclass
class _PartitionHistory:
    """One partition as the metadata log describes it, and what happened to it."""

    replicas: list[int]
    isr: list[int]
    leader: int
    leader_epoch: int = 0
    shrinks: int = 0  # ISR changes that removed a replica
    expands: int = 0  # ISR changes that added one back
    clean_elections: int = 0  # a new leader from the in-sync replicas
    unclean_elections: list[tuple[int, list[int]]] = field(default_factory=list)


@dataclass
class _Topic:
    partitions: dict[int, _PartitionHistory] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


def _history(ctx: Context) -> dict[str, _Topic]:
    """Every topic of the cluster in ctx.data_dir, replayed from the metadata log."""
    path = Path(ctx.data_dir) / "cluster" / "controller" / "metadata.log"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise _Missing(f"no cluster has run with this data directory yet ({_START})") from None
    topics: dict[str, _Topic] = {}
    names: dict[str, str] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line: the controller drops it too
        kind = record.get("type")
        if kind == "TopicRecord":
            names[record["topicId"]] = record["name"]
            topics[record["name"]] = _Topic()
        elif kind == "RemoveTopicRecord":
            topics.pop(names.pop(record["topicId"], ""), None)
        elif kind == "ConfigRecord" and record.get("resourceName") in topics:
            topics[record["resourceName"]].configs[record["name"]] = record["value"]
        elif kind == "PartitionRecord" and record["topicId"] in names:
            topics[names[record["topicId"]]].partitions[record["partitionId"]] = _PartitionHistory(
                list(record["replicas"]), list(record["isr"]), record["leader"]
            )
        elif kind == "PartitionChangeRecord" and record["topicId"] in names:
            topic = topics[names[record["topicId"]]]
            _changed(topic.partitions[record["partitionId"]], record)
    return topics


def _changed(p: _PartitionHistory, record: dict) -> None:
    before = list(p.isr)
    if "isr" in record:
        after = list(record["isr"])
        if set(before) - set(after):
            p.shrinks += 1
        if set(after) - set(before):
            p.expands += 1
        p.isr = after
    leader = record.get("leader", p.leader)
    if leader != p.leader:
        p.leader = leader
        p.leader_epoch += 1
        if leader >= 0:
            if leader in before:
                p.clean_elections += 1
            else:
                p.unclean_elections.append((leader, before))


def _topic(ctx: Context, name: str) -> _Topic:
    topics = _history(ctx)
    if name not in topics:
        raise _Missing(
            f"the cluster has no topic '{name}' yet (create it with: kcli --profile cluster "
            f"topic create {name} ...)"
        )
    return topics[name]


@check("cluster_topic")
def _cluster_topic(ctx: Context, spec: dict) -> list[Finding]:
    """A topic on the cluster: ``partitions``, ``replication_factor``, topic ``config``
    values, and (``isr_complete``) every partition's ISR back to all its replicas."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    out = [Finding(True, f"the cluster has topic '{name}'")]
    want = spec.get("partitions")
    if want is not None:
        have = len(topic.partitions)
        out.append(
            Finding(
                have == want,
                f"topic '{name}' has {_plural(have, 'partition')}"
                + ("" if have == want else f", the exercise wants {want}"),
            )
        )
    rf = spec.get("replication_factor")
    if rf is not None:
        factors = sorted({len(p.replicas) for p in topic.partitions.values()})
        ok = factors == [rf]
        out.append(
            Finding(
                ok,
                f"topic '{name}' has replication factor {rf}"
                if ok
                else f"topic '{name}' has replication factor {factors}, the exercise wants {rf} "
                f"(delete it and create it again with --replication-factor {rf})",
            )
        )
    for key, value in (spec.get("config") or {}).items():
        actual = topic.configs.get(key)
        ok = str(actual) == str(value)
        out.append(
            Finding(
                ok,
                f"topic '{name}' has {key}={value}"
                if ok
                else f"topic '{name}' has {key}={actual or 'the default'}, the exercise wants "
                f"{value} (kcli --profile cluster topic alter {name} --config {key}={value})",
            )
        )
    if spec.get("isr_complete"):
        short = [
            f"{name}-{n} (ISR {p.isr} of {p.replicas})"
            for n, p in sorted(topic.partitions.items())
            if set(p.isr) != set(p.replicas)
        ]
        out.append(
            Finding(
                not short,
                f"every partition of '{name}' has all its replicas in sync"
                if not short
                else f"not every replica is in sync yet: {', '.join(short[:3])}; restart the "
                f"brokers that are down (kcli cluster restart ID) and watch kcli cluster status",
            )
        )
    return out


@check("isr_shrink_expand")
def _isr_shrink_expand(ctx: Context, spec: dict) -> list[Finding]:
    """Some partition of the topic left its ISR and came back (as the metadata log says)."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    shrunk = [n for n, p in topic.partitions.items() if p.shrinks]
    expanded = [n for n, p in topic.partitions.items() if p.shrinks and p.expands]
    return [
        Finding(
            bool(shrunk),
            f"a replica of '{name}' left the ISR"
            if shrunk
            else f"no replica of '{name}' has left the ISR yet (pause a broker with kcli "
            f"cluster pause ID, produce, and wait replica.lag.time.max.ms)",
        ),
        Finding(
            bool(expanded),
            "it rejoined the ISR once caught up"
            if expanded
            else f"no replica of '{name}' has rejoined the ISR yet (kcli cluster resume ID)",
        ),
    ]


def _broker_logs(ctx: Context) -> list[Path]:
    return sorted((Path(ctx.data_dir) / "cluster").glob("broker-*.log"))


@check("not_enough_replicas")
def _not_enough_replicas(ctx: Context, spec: dict) -> list[Finding]:
    """A broker refused a produce to the topic with NOT_ENOUGH_REPLICAS."""
    name = spec["topic"]
    _topic(ctx, name)
    seen = any(
        f"to {name}-" in line and "NOT_ENOUGH_REPLICAS" in line
        for path in _broker_logs(ctx)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    )
    return [
        Finding(
            seen,
            f"a write to '{name}' was refused with NOT_ENOUGH_REPLICAS"
            if seen
            else f"no write to '{name}' has been refused with NOT_ENOUGH_REPLICAS yet (kill two "
            f"brokers of its replicas, then produce with --acks all)",
        )
    ]


@check("cluster_records")
def _cluster_records(ctx: Context, spec: dict) -> list[Finding]:
    """The topic's leaders hold at least ``min`` records in all (read from their logs)."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    total = 0
    for n, p in topic.partitions.items():
        for broker in [p.leader, *p.isr]:
            directory = Path(ctx.data_dir) / "cluster" / f"broker-{broker}"
            if not (directory / f"{name}-{n}").is_dir():
                continue
            try:
                log = Store(directory).log(name, n)
                total += log.log_end_offset - log.log_start_offset
                break
            except (StorageError, OSError):
                continue
    want = spec.get("min", 1)
    return [
        Finding(
            total >= want,
            f"'{name}' holds {_plural(total, 'record')} on the cluster"
            + ("" if total >= want else f"; the exercise wants at least {want}"),
        )
    ]


@check("elections")
def _elections(ctx: Context, spec: dict) -> list[Finding]:
    """A clean election (``clean``: a new leader from the ISR) and an unclean one
    (``unclean``: a leader from outside the ISR) happened on the topic."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    out = []
    if spec.get("clean"):
        clean = any(p.clean_elections for p in topic.partitions.values())
        out.append(
            Finding(
                clean,
                f"a new leader of '{name}' was elected from its in-sync replicas"
                if clean
                else f"no leader of '{name}' has changed yet (kill its leader: kcli cluster "
                f"kill ID)",
            )
        )
    if spec.get("unclean"):
        unclean = [(n, e) for n, p in topic.partitions.items() for e in p.unclean_elections]
        text = f"no unclean election on '{name}' yet (see the lesson's second experiment)"
        if unclean:
            n, (leader, isr) = unclean[0]
            text = f"broker {leader} led {name}-{n} from outside its ISR {isr} (unclean)"
        out.append(Finding(bool(unclean), text))
    return out
