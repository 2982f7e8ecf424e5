"""How the number of records per RecordBatch changes produce, full scans and point reads.

    python benchmarks/bench_batch_size.py [--records N] [--repeat N] [--sizes 16,64,...]

For each batch size (records per batch; the bytes it comes to with 100-byte values in
brackets), one partition of N records is produced with ``Log.append_records(...,
batch_records=B)``, durable every 10,000 records, then read back whole (``read_records``
from offset 0, touching every value) and by 10,000 point reads at random offsets.  Each
figure is the best of ``--repeat`` runs, and each is printed as a ratio to the figure of the
current default (``storage.log.DEFAULT_BATCH_RECORDS``) measured in the same run, so that
load from elsewhere on the machine hits every row alike.

Kafka's Java producer fills batches of ``batch.size`` = 16384 bytes (about 145 of these
records); librdkafka's ``batch.size`` is 1,000,000 bytes.  docs/performance.md says which
size kcli chose, from this table.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

# The same scan and point reads as bench_store's (this folder is on sys.path when run).
from bench_store import VALUE_BYTES, store_point_reads, store_read

from storage import Store
from storage.log import DEFAULT_BATCH_RECORDS

DURABLE_EVERY = 10_000
POINT_READS = 10_000


def produce(log, values: list[bytes], batch_records: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(values), DURABLE_EVERY):
        log.append_records(values[i : i + DURABLE_EVERY], batch_records=batch_records)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="16,64,145,256,500,1000,2000,4000")
    args = parser.parse_args()
    n = args.records
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {DEFAULT_BATCH_RECORDS})
    values = [b"%010d" % i + b"x" * (VALUE_BYTES - 10) for i in range(n)]
    offsets = [random.Random(1).randrange(n) for _ in range(POINT_READS)]
    work = Path(tempfile.mkdtemp(prefix="bench-batch-size-"))
    print(
        f"{n:,} records of {VALUE_BYTES} bytes, durable every {DURABLE_EVERY:,}; best of "
        f"{args.repeat}; load {os.getloadavg()[0]:.1f}"
    )
    best: dict[tuple[str, int], float] = {}
    try:
        store = Store(work)
        for r in range(args.repeat):
            for size in sizes:  # interleaved: every size sees the same load
                topic = f"b{size}-{r}"
                store.create_topic(topic, 1)
                log = store.log(topic, 0)
                for name, seconds in (
                    ("produce", produce(log, values, size)),
                    ("scan", store_read(log, n)),
                    ("point", store_point_reads(log, offsets)),
                ):
                    key = (name, size)
                    best[key] = min(best.get(key, seconds), seconds)
                store.delete_topic(topic)
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = DEFAULT_BATCH_RECORDS
    print(
        f"\n{'records/batch':>14} {'~bytes':>8} {'produce/s':>11} {'':>6} {'scan/s':>11} "
        f"{'':>6} {'point reads/s':>13} {'':>6}"
    )
    for size in sizes:
        batch_bytes = size * (VALUE_BYTES + 10) + 61
        cells = []
        for name, count in (("produce", n), ("scan", n), ("point", POINT_READS)):
            rate = count / best[(name, size)]
            ratio = best[(name, base)] / best[(name, size)]
            cells.append(f"{rate:>11,.0f} {ratio:>5.2f}x")
        mark = "  <- default" if size == base else ""
        print(f"{size:>14,} {batch_bytes:>8,} " + " ".join(cells) + mark)
    print(f"\nratios: each size's rate over the default's ({base} records per batch)")


if __name__ == "__main__":
    main()
