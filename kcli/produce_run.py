"""``kcli produce`` after its options are parsed: the records to a topic through one producer,
delivery reports counted (and printed with -o json), exactly what was stored said on an error."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from kcli import produce_input, render
from kcli.client.backend import Backend
from kcli.client.types import KafkaException
from kcli.errors import KcliError, client_error
from storage.errors import partition_not_found_message


@dataclass(frozen=True)
class ProduceRequest:
    """What ``kcli produce`` was asked for (its options, checked)."""

    topic: str
    values: list[str] | None = None  # None or empty: stdin lines
    tombstone: bool = False
    key: str | None = None
    partition: int | None = None
    headers: list = field(default_factory=list)
    key_separator: str | None = None
    json_input: bool = False
    json_output: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # acks, compression.type


def produce_records(b: Backend, req: ProduceRequest) -> None:
    """Produce what ``req`` says to ``b``; KcliError (naming what was stored) on a bad line or
    a refused record; a summary on stderr unless -o json."""
    topic, key, partition = req.topic, req.key, req.partition
    meta = b.topic(topic)
    if partition is not None and not 0 <= partition < meta.partitions:
        raise KcliError(partition_not_found_message(topic, meta.partitions, partition))

    json_out = req.json_output
    values = req.values
    if req.tombstone:
        lines, more = [None], None
    elif values:
        lines, more = [v.encode("utf-8", "surrogateescape") for v in values], None
    else:
        lines, more = [], produce_input.Stdin(sys.stdin.buffer)
    # Small inputs get a delivery report per record, for -o json and for a summary that says
    # where each record went; big ones only report failures, which keeps them fast.
    detail = json_out or more is None or more.small()
    session = Deliveries(topic, json_out=json_out, detail=detail)
    try:
        producer = b.producer(
            {
                "linger.ms": 1000,
                "delivery.report.only.error": not detail,
                **req.settings,
            }
        )
    except KafkaException as exc:
        raise client_error(exc) from None
    started = time.monotonic()
    feeder = produce_input.Feeder(
        producer,
        session,
        topic,
        key=None if key is None else key.encode("utf-8", "surrogateescape"),
        partition=-1 if partition is None else partition,
        headers=req.headers,
        separator=None
        if req.key_separator is None
        else req.key_separator.encode("utf-8", "surrogateescape"),
        json_input=req.json_input,
    )
    try:
        if more is None:
            feeder.feed(lines, "argument", 1)
        else:
            limit = produce_input.line_limit(
                b.max_message_bytes(topic), json_input=feeder.json_input
            )
            more.feed_all(feeder, limit)
        producer.flush()
        session.emit()
    except (produce_input.BadLine, KafkaException, KeyboardInterrupt) as exc:
        # Everything queued came before the bad line: keep it (nothing after it was queued).
        producer.flush()
        session.emit()
        if isinstance(exc, KeyboardInterrupt):
            session.summary(time.monotonic() - started)
            raise
        bad_line = isinstance(exc, produce_input.BadLine)
        reason = str(exc) if bad_line else str(client_error(exc))
        if isinstance(exc, KafkaException) and feeder.last_where:
            reason = f"{feeder.last_where}: {reason}"
        raise KcliError(f"{reason}; {session.stored_phrase(feeder)}") from None
    finally:
        producer.close()
    if session.errors:
        raise KcliError(f"{session.errors[0]}; {session.stored_phrase(feeder)}")
    if not session.json_out:
        session.summary(time.monotonic() - started)


class Deliveries:
    """Delivery reports: JSON lines to print, counts and offset ranges for the summary."""

    def __init__(self, topic: str, *, json_out: bool, detail: bool):
        self.topic = topic
        self.json_out = json_out
        self.detail = detail  # a report per record (else reports of failures only)
        self.queued = 0  # records handed to the producer
        self.delivered = 0  # success reports received (detail mode)
        self.unacknowledged = 0  # of them, sent with acks=0: no offset known
        self.ranges: dict[int, list[int]] = {}
        self.errors: list[str] = []
        self.pending: list[str] = []
        self._prefix = '{"topic":' + encode_basestring(topic) + ',"partition":'
        self.report = self._report  # one bound method, compared by identity

    def _report(self, err, msg) -> None:
        if err is not None:
            self.errors.append(err.str())
            return
        partition, offset = msg[1], msg[2]
        self.delivered += 1
        if offset < 0:  # acks=0: the cluster does not answer, so no offset is known
            offset = -1
            self.unacknowledged += 1
        if self.json_out:
            self.pending.append(f'{self._prefix}{partition},"offset":{offset}}}\n')
        if offset < 0:
            return
        r = self.ranges.get(partition)
        if r is None:
            self.ranges[partition] = [offset, offset]
        else:
            r[0] = min(r[0], offset)
            r[1] = max(r[1], offset)

    def emit(self) -> None:
        if self.pending:
            render.data_lines(self.pending)
            self.pending = []

    def written(self) -> int:
        return self.delivered if self.detail else self.queued - len(self.errors)

    def stored_phrase(self, feeder) -> str:
        """What of the input is stored, exactly: "stored lines 1-4 (nothing after them)"."""
        n = self.written()
        if n <= 0:
            return "nothing was written"
        if not self.errors and n == self.queued:
            return f"stored {feeder.queued_phrase()} (nothing after them)"
        return (
            f"{n} of the {self.queued} record{'s' if self.queued != 1 else ''} before it "
            f"{'were' if n != 1 else 'was'} stored, {len(self.errors)} failed"
        )

    def summary(self, seconds: float) -> None:
        n = self.written()
        if n == 0:
            render.note(f"No records to produce to {self.topic} (the input was empty).")
            return
        what = f"Produced {n:,} record{'s' if n != 1 else ''} to {self.topic}"
        if self.detail and self.ranges and not self.unacknowledged:
            where = []
            for p in sorted(self.ranges):
                lo, hi = self.ranges[p]
                where.append(f"partition {p} offset{f's {lo}..{hi}' if hi > lo else f' {lo}'}")
            render.note(f"{what}: {', '.join(where)}.")
        elif self.detail and self.unacknowledged:
            render.note(f"{what} with acks=0: sent, not acknowledged, offsets unknown.")
        else:
            rate = f", {n / seconds:,.0f} records/s" if seconds > 0 and n >= 10_000 else ""
            render.note(f"{what} in {seconds:.2f} s{rate}.")
