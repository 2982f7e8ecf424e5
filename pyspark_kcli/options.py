"""The options of format("kcli"), named and shaped as Spark's Kafka source and sink name them.

Offsets travel as Kafka-shaped JSON, ``{"topic": {"partition": offset}}``, in the options
(``startingOffsets``, ``endingOffsets``) and in the query's checkpoint.  In option JSON,
-2 means earliest and -1 latest, as in Spark's Kafka source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kcli.errors import KcliError

EARLIEST = -2
LATEST = -1

# A topic-partition is the unit of everything here: one Spark partition per topic-partition.
TopicPartition = tuple[str, int]
Offsets = dict[TopicPartition, int]


class SparkOptionError(KcliError):
    """An option of format("kcli") is missing, unknown or malformed."""


class DataLossError(KcliError):
    """Records the query should read are gone (retention, or a deleted topic).

    Raised only with ``failOnDataLoss=true`` (the default), as Spark's Kafka source does.
    """


def offsets_to_json(offsets: Offsets) -> dict[str, dict[str, int]]:
    """``{("t", 0): 5}`` → ``{"t": {"0": 5}}``, the shape Spark's Kafka source checkpoints."""
    out: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        out.setdefault(topic, {})[str(partition)] = int(offset)
    return out


def offsets_from_json(data: Mapping, *, what: str = "offsets") -> Offsets:
    """The inverse of ``offsets_to_json``; accepts a dict or its JSON text."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SparkOptionError(
                f'{what} is not valid JSON ({exc.msg}); expected e.g. {{"orders": {{"0": 23}}}}'
            ) from None
    if not isinstance(data, Mapping):
        raise SparkOptionError(f'{what} must be a JSON object such as {{"orders": {{"0": 23}}}}')
    out: Offsets = {}
    for topic, partitions in data.items():
        if not isinstance(partitions, Mapping):
            raise SparkOptionError(
                f'{what}: the value for topic "{topic}" must be an object of partition → offset, '
                f'e.g. {{"{topic}": {{"0": 23}}}}'
            )
        for partition, offset in partitions.items():
            try:
                p = int(partition)
            except (TypeError, ValueError):
                raise SparkOptionError(
                    f'{what}: "{partition}" in topic "{topic}" is not a partition number'
                ) from None
            if isinstance(offset, bool) or not isinstance(offset, int):
                raise SparkOptionError(
                    f"{what}: the offset of {topic}-{p} must be an integer, not {offset!r}"
                )
            out[(topic, p)] = offset
    return out


@dataclass(frozen=True)
class Subscription:
    """Which topic-partitions to read: exactly one of assign, subscribe, subscribePattern."""

    topics: tuple[str, ...] = ()
    pattern: str | None = None
    assigned: tuple[TopicPartition, ...] = ()

    def describe(self) -> str:
        if self.assigned:
            return "assign " + ", ".join(f"{t}-{p}" for t, p in self.assigned)
        if self.pattern is not None:
            return f"subscribePattern {self.pattern}"
        return "subscribe " + ",".join(self.topics)


@dataclass(frozen=True)
class SourceOptions:
    """What the source was asked to read, validated once on the driver."""

    data_dir: Path
    subscription: Subscription
    starting: str | Offsets  # "earliest" | "latest" | explicit offsets (-2/-1 allowed)
    ending: str | Offsets  # batch reads only: "latest" | explicit offsets (-1 allowed)
    max_offsets_per_trigger: int | None
    fail_on_data_loss: bool
    include_headers: bool


SOURCE_OPTIONS = {
    "path",
    "subscribe",
    "subscribepattern",
    "assign",
    "startingoffsets",
    "endingoffsets",
    "maxoffsetspertrigger",
    "failondataloss",
    "includeheaders",
}
SINK_OPTIONS = {"path", "topic", "checkpointlocation"}


def _lower(options: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in options.items()}


def _bool(options: dict[str, str], name: str, default: bool) -> bool:
    raw = options.get(name.lower())
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    raise SparkOptionError(f"option {name} must be true or false, not {raw!r}")


def _positive_int(options: dict[str, str], name: str, default: int | None) -> int | None:
    raw = options.get(name.lower())
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SparkOptionError(f"option {name} must be a positive integer, not {raw!r}")
    return value


def resolve_data_dir(options: Mapping[str, str]) -> Path:
    """The ``path`` option, else the CLI's default (``KCLI_DATA_DIR``, else the user dir)."""
    from kcli.settings import resolve_data_dir as cli_default

    return cli_default(_lower(options).get("path") or None)


def parse_subscription(options: dict[str, str]) -> Subscription:
    given = [k for k in ("assign", "subscribe", "subscribepattern") if options.get(k)]
    if len(given) != 1:
        names = {
            "assign": "assign",
            "subscribe": "subscribe",
            "subscribepattern": "subscribePattern",
        }
        found = ", ".join(names[k] for k in given) or "none"
        raise SparkOptionError(
            "set exactly one of the options subscribe (a comma list of topics), "
            'subscribePattern (a regular expression) or assign (JSON such as {"orders":[0,1]}); '
            f"found: {found}"
        )
    kind = given[0]
    raw = options[kind]
    if kind == "subscribe":
        topics = tuple(t.strip() for t in raw.split(",") if t.strip())
        if not topics:
            raise SparkOptionError("option subscribe needs at least one topic name")
        return Subscription(topics=topics)
    if kind == "subscribepattern":
        try:
            re.compile(raw)
        except re.error as exc:
            raise SparkOptionError(
                f"option subscribePattern is not a valid regular expression: {exc}"
            ) from None
        return Subscription(pattern=raw)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(ps, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in ps)
        for ps in data.values()
    ):
        raise SparkOptionError(
            f'option assign must be JSON mapping topics to partition lists, e.g. {{"orders":[0,1]}}; '
            f"got {raw!r}"
        )
    assigned = tuple(sorted({(t, p) for t, ps in data.items() for p in ps}))
    if not assigned:
        raise SparkOptionError("option assign names no partitions")
    return Subscription(assigned=assigned)


def _offsets_option(
    options: dict[str, str], name: str, default: str, allowed: tuple[str, ...]
) -> str | Offsets:
    raw = options.get(name.lower())
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in allowed:
        return word
    if raw.strip().startswith("{"):
        offsets = offsets_from_json(raw, what=f"option {name}")
        forbidden = {"earliest": EARLIEST, "latest": LATEST}
        for (topic, partition), offset in offsets.items():
            if offset < EARLIEST:
                raise SparkOptionError(
                    f"option {name}: offset {offset} of {topic}-{partition} is not valid; use an "
                    "offset >= 0, -2 for earliest or -1 for latest"
                )
            for w, special in forbidden.items():
                if offset == special and w not in allowed:
                    raise SparkOptionError(
                        f"option {name}: {w} ({special}) is not allowed here "
                        f"({topic}-{partition}); allowed: {' or '.join(allowed)}"
                    )
        return offsets
    choices = " | ".join(allowed)
    raise SparkOptionError(
        f'option {name} must be {choices} or JSON such as {{"orders": {{"0": 23}}}}, not {raw!r}'
    )


def parse_source_options(options: Mapping[str, str], *, streaming: bool) -> SourceOptions:
    """Validate the reader's options; defaults are Spark's Kafka source's."""
    opts = _lower(options)
    unknown = sorted(set(opts) - SOURCE_OPTIONS)
    if unknown:
        raise SparkOptionError(
            f"unknown option(s) for reading format kcli: {', '.join(unknown)}; valid: "
            "path, subscribe, subscribePattern, assign, startingOffsets, endingOffsets, "
            "maxOffsetsPerTrigger, failOnDataLoss, includeHeaders"
        )
    if streaming and "endingoffsets" in opts:
        raise SparkOptionError(
            "option endingOffsets is for batch reads (spark.read); a stream has no end"
        )
    # A stream starts at the end by default (it waits for new events); a batch read reads all.
    starting_default = "latest" if streaming else "earliest"
    starting_allowed = ("earliest", "latest") if streaming else ("earliest",)
    return SourceOptions(
        data_dir=resolve_data_dir(opts),
        subscription=parse_subscription(opts),
        starting=_offsets_option(opts, "startingOffsets", starting_default, starting_allowed),
        ending=_offsets_option(opts, "endingOffsets", "latest", ("latest",)),
        max_offsets_per_trigger=_positive_int(opts, "maxOffsetsPerTrigger", None),
        fail_on_data_loss=_bool(opts, "failOnDataLoss", True),
        include_headers=_bool(opts, "includeHeaders", False),
    )


@dataclass(frozen=True)
class SinkOptions:
    """Where the sink writes: the data dir and a topic (else each row's topic column)."""

    data_dir: Path
    topic: str | None


def parse_sink_options(options: Mapping[str, str]) -> SinkOptions:
    opts = _lower(options)
    unknown = sorted(set(opts) - SINK_OPTIONS)
    if unknown:
        raise SparkOptionError(
            f"unknown option(s) for writing format kcli: {', '.join(unknown)}; valid: path, topic"
        )
    topic = opts.get("topic") or None
    return SinkOptions(data_dir=resolve_data_dir(opts), topic=topic)
