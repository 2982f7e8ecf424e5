"""Checks on a ``kcli cluster``, judged on what it left on disk.

A cluster keeps its history in the controller's metadata log
(``<data-dir>/cluster/controller/metadata.log``, Kafka's metadata records as JSON lines) and
each broker's partitions in its own log directory (``<data-dir>/cluster/broker-<id>/``, a store
in Kafka's layout).  These checks replay the metadata log into the image a broker builds
(``kcli.cluster.metadata``), noting what each ``PartitionChangeRecord`` changed (an ISR
shrinking or expanding, a new leader from inside or outside the ISR), and read the brokers'
logs directly: they need no running cluster and no timing.  A broker's refusals
(NOT_ENOUGH_REPLICAS) are read from its own log file (``broker-<id>.log``), where it writes
every failed produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kcli.cluster.launcher import CONTROLLER, Cluster, broker_dir, cluster_dir
from kcli.cluster.metadata import MetadataImage, PartitionState
from kcli.learn.checks.base import Context, Finding, Missing, check, plural, text_of

_START = "start the cluster as the lesson does: kcli cluster start ..."


@dataclass
class _History:
    """What happened to one partition, as its PartitionChangeRecords tell."""

    shrinks: int = 0  # ISR changes that removed a replica
    expands: int = 0  # ISR changes that added one back
    clean_elections: int = 0  # a new leader from the in-sync replicas
    # (new leader, the ISR it was not in): a leader from outside the ISR
    unclean_elections: list[tuple[int, list[int]]] = field(default_factory=list)


@dataclass
class _Topic:
    """A topic of the cluster: its partitions now, its configs and each partition's history."""

    partitions: dict[int, PartitionState]
    configs: dict[str, str]
    history: dict[int, _History]


def _replay(ctx: Context) -> dict[str, _Topic]:
    """Every topic of the cluster in ctx.data_dir, replayed from the metadata log."""
    path = cluster_dir(ctx.data_dir) / CONTROLLER / "metadata.log"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise Missing(f"no cluster has run with this data directory yet ({_START})") from None
    image = MetadataImage()
    history: dict[tuple[str, int], _History] = {}
    for offset, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            break  # a torn last line: the controller drops it too
        before = None
        if record.get("type") == "PartitionChangeRecord":
            before = _state_of(image, record)
        changed = image.apply(offset, record)
        if changed is None:
            continue
        tp = (changed.topic, changed.partition)
        if record["type"] == "PartitionRecord":
            history[tp] = _History()
        elif before is not None:
            _note(history.setdefault(tp, _History()), before, changed)
    return {
        name: _Topic(
            dict(t.partitions),
            dict(t.configs),
            {n: history.get((name, n), _History()) for n in t.partitions},
        )
        for name, t in image.topics.items()
    }


def _state_of(image: MetadataImage, record: dict) -> tuple[list[int], int] | None:
    """The ISR and leader a PartitionChangeRecord is about to change."""
    for topic in image.topics.values():
        if topic.topic_id == record["topicId"]:
            state = topic.partitions.get(record["partitionId"])
            return None if state is None else (list(state.isr), state.leader)
    return None


def _note(h: _History, before: tuple[list[int], int], after: PartitionState) -> None:
    isr, leader = before
    if set(isr) - set(after.isr):
        h.shrinks += 1
    if set(after.isr) - set(isr):
        h.expands += 1
    if after.leader != leader and after.leader >= 0:
        if after.leader in isr:
            h.clean_elections += 1
        else:
            h.unclean_elections.append((after.leader, isr))


def _topic(ctx: Context, name: str) -> _Topic:
    topics = _replay(ctx)
    if name not in topics:
        raise Missing(
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
                f"topic '{name}' has {plural(have, 'partition')}"
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
                else f"topic '{name}' has replication factor "
                f"{', '.join(map(str, factors))}, the exercise wants {rf} (delete it and "
                f"create it again with --replication-factor {rf})",
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
            f"{name}-{n} (ISR {_ids(p.isr)} of {_ids(p.replicas)})"
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


def _ids(brokers: list[int]) -> str:
    return ",".join(map(str, brokers))


@check("isr_shrink_expand")
def _isr_shrink_expand(ctx: Context, spec: dict) -> list[Finding]:
    """Some partition of the topic left its ISR and came back (as the metadata log says)."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    shrunk = [n for n, h in topic.history.items() if h.shrinks]
    expanded = [n for n, h in topic.history.items() if h.shrinks and h.expands]
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


@check("not_enough_replicas")
def _not_enough_replicas(ctx: Context, spec: dict) -> list[Finding]:
    """A broker refused a produce to the topic with NOT_ENOUGH_REPLICAS."""
    name = spec["topic"]
    _topic(ctx, name)
    logs = sorted(cluster_dir(ctx.data_dir).glob("broker-*.log"))
    seen = any(
        f" to {name}-" in line and "failed: NOT_ENOUGH_REPLICAS" in line
        for path in logs
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


def _leader_values(ctx: Context, name: str, topic: _Topic) -> list[str | None] | None:
    """The values of the topic's records as its leaders hold them (None: a partition has no
    leader, so no one can read it)."""
    from storage import StorageError, Store

    values: list[str | None] = []
    for n, p in sorted(topic.partitions.items()):
        if p.leader < 0:
            return None
        try:
            store = Store(broker_dir(ctx.data_dir, p.leader), create=False)
        except (StorageError, OSError):
            return None
        try:
            log = store.log(name, n)
            offset = log.log_start_offset
            while chunk := log.read_records(offset, max_records=5000):
                values.extend(text_of(r.value) for r in chunk)
                offset = chunk[-1].offset + 1
        except (StorageError, OSError):
            return None
        finally:
            store.close()
    return values


@check("cluster_records")
def _cluster_records(ctx: Context, spec: dict) -> list[Finding]:
    """The topic's leaders hold at least ``min`` records, and every value of ``values``."""
    name = spec["topic"]
    topic = _topic(ctx, name)
    values = _leader_values(ctx, name, topic)
    if values is None:
        offline = [f"{name}-{n}" for n, p in sorted(topic.partitions.items()) if p.leader < 0]
        return [
            Finding(
                False,
                f"'{name}' cannot be read: "
                + (
                    f"{', '.join(offline)} has no leader (restart its brokers)"
                    if offline
                    else "its leaders' logs cannot be opened (is the cluster's data intact?)"
                ),
            )
        ]
    want = int(spec.get("min", 1))
    out = [
        Finding(
            len(values) >= want,
            f"'{name}' holds {plural(len(values), 'record')} on the cluster"
            + ("" if len(values) >= want else f"; the exercise wants at least {want}"),
        )
    ]
    wanted = [str(v) for v in spec.get("values", ())]
    if wanted:
        lost = [v for v in wanted if v not in values]
        out.append(
            Finding(
                not lost,
                f"its leaders hold every one of {', '.join(wanted)}"
                if not lost
                else f"its leaders lack {', '.join(lost)} (produce them with --acks all)",
            )
        )
    return out


@check("min_insync")
def _min_insync(ctx: Context, spec: dict) -> list[Finding]:
    """``min.insync.replicas`` is ``value`` for the topic: its own config, else the cluster's
    broker default."""
    name, want = spec["topic"], str(spec["value"])
    topic = _topic(ctx, name)
    have = topic.configs.get("min.insync.replicas")
    where = "its topic config"
    if have is None:
        have = Cluster(ctx.data_dir).load().get("config", {}).get("min.insync.replicas", "1")
        where = "the brokers' default"
    ok = str(have) == want
    return [
        Finding(
            ok,
            f"topic '{name}' has min.insync.replicas={have} ({where})"
            + (
                ""
                if ok
                else f", the exercise wants {want} (kcli --profile cluster topic alter {name} "
                f"--config min.insync.replicas={want})"
            ),
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
        clean = any(h.clean_elections for h in topic.history.values())
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
        unclean = [(n, e) for n, h in topic.history.items() for e in h.unclean_elections]
        text = f"no unclean election on '{name}' yet (see the lesson's second experiment)"
        if unclean:
            n, (leader, isr) = unclean[0]
            text = f"broker {leader} led {name}-{n} from outside its ISR ({_ids(isr)}): unclean"
        out.append(Finding(bool(unclean), text))
    return out
