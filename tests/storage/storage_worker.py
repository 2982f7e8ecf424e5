"""A separate process for the concurrency tests: an appender or a checking reader.

    python storage_worker.py append DATA_DIR TOPIC WRITER BATCHES RECORDS GO_FILE
    python storage_worker.py read DATA_DIR TOPIC TOTAL GO_FILE [--from-start-offset]

An appender waits for GO_FILE, then appends BATCHES batches of RECORDS records whose values
are ``w<WRITER>:<batch>:<record>``.  A reader follows the partition until it has seen TOTAL
records (or the log end reaches TOTAL, when retention may delete records first), checking
that offsets only grow by one and that every batch it sees is whole; it prints a summary
line and exits 1 on the first violation.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from storage import ProducerRecord, Store
from storage.errors import OffsetOutOfRange

DEADLINE_S = 300


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit("the go file never appeared")
        time.sleep(0.002)


def append(data_dir, topic, writer, batches, records, go):
    log = Store(data_dir).log(topic, 0)
    wait_for(Path(go))
    for b in range(int(batches)):
        values = [
            ProducerRecord(b"w%s:%d:%d" % (writer.encode(), b, i)) for i in range(int(records))
        ]
        info = log.append_records(values)
        print(info.base_offset, info.last_offset, flush=True)


def read(data_dir, topic, total, go, *flags):
    total = int(total)
    retention = "--from-start-offset" in flags
    log = Store(data_dir).log(topic, 0)
    wait_for(Path(go))
    offset = 0
    seen = 0
    polls = 0
    jumps = 0
    last = {}  # writer -> (batch, record) of the last record seen
    deadline = time.monotonic() + DEADLINE_S
    while offset < total:
        if time.monotonic() > deadline:
            sys.exit(f"reader stuck at offset {offset}")
        polls += 1
        try:
            records = log.read_records(offset, None, max_bytes=16384)
        except OffsetOutOfRange as exc:
            if not retention:
                raise
            # Retention deleted what this reader had not read yet: go on from the new start.
            offset = exc.log_start_offset
            jumps += 1
            last.clear()
            continue
        if not records:
            time.sleep(0.001)
            continue
        for r in records:
            if r.offset != offset:
                sys.exit(f"expected offset {offset}, got {r.offset}")
            writer, batch, record = r.value.split(b":")
            batch, record = int(batch), int(record)
            previous = last.get(writer)
            if previous is not None:
                # A writer's records follow each other: next record of the same batch, or
                # the first record of a later batch (whole batches, never interleaved).
                same_batch = batch == previous[0] and record == previous[1] + 1
                next_batch = batch > previous[0] and record == 0
                if not (same_batch or next_batch):
                    sys.exit(f"at offset {r.offset}: {r.value!r} after {writer!r} {previous}")
            last[writer] = (batch, record)
            offset += 1
            seen += 1
    print(f"read {seen} records in {polls} polls, {jumps} jumps over deleted segments", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    command, *args = sys.argv[1:]
    {"append": append, "read": read}[command](*args)
