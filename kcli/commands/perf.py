"""`kcli perf`: measure produce and consume throughput, like Kafka's perf-test tools."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

import random
import string
import time

import typer

from kcli.commands._common import (
    ACKS_HELP,
    COMPRESSION_HELP,
    Acks,
    Compression,
    Output,
    backend,
    client_error,
    output_option,
    producer_settings,
)
from kcli.errors import KcliError

app = typer.Typer(
    help="Measure throughput and latency, like kafka-producer-perf-test and "
    "kafka-consumer-perf-test.",
    no_args_is_help=True,
)

# Report throughput in MB/s of 1024*1024 bytes, as Kafka's tools do.
_MB = 1024 * 1024


@app.command("produce")
def perf_produce(
    topic: str = typer.Argument(..., help="Topic to write to (it must exist).", metavar="TOPIC"),
    num_records: int = typer.Option(
        ..., "--num-records", "-n", help="Records to send.", metavar="N"
    ),
    record_size: int = typer.Option(
        ..., "--record-size", "-s", help="Bytes per record value.", metavar="BYTES"
    ),
    throughput: float = typer.Option(
        -1,
        "--throughput",
        "-t",
        help="Records per second at most (-1: as fast as possible).",
        metavar="RATE",
    ),
    acks: Acks | None = typer.Option(
        None, "--acks", help=ACKS_HELP, metavar="ACKS", show_default=False
    ),
    compression: Compression | None = typer.Option(
        None, "--compression", "-z", help=COMPRESSION_HELP, metavar="CODEC", show_default=False
    ),
    output: Output | None = output_option(),
) -> None:
    """Send N records of B bytes and report records/s, MB/s and delivery latency.

    Latency is the time from produce() to the delivery report, that is until the record is fsynced (on a cluster: acknowledged as --acks asks; with --acks 0 at once); records wait up to linger.ms = 5 ms to be batched. Random uppercase payload, as in Kafka's tool.
    """
    from kcli import render
    from kcli.client.types import KafkaException

    if num_records < 1:
        raise typer.BadParameter("must be 1 or more", param_hint="'--num-records'")
    if record_size < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="'--record-size'")
    if throughput == 0 or throughput < -1:
        raise typer.BadParameter("use a rate > 0, or -1 for no limit", param_hint="'--throughput'")
    payload = "".join(random.choices(string.ascii_uppercase, k=record_size)).encode()
    try:
        producer = backend().producer(producer_settings(acks, compression))
    except KafkaException as exc:
        raise client_error(exc) from None
    latencies: list[float] = []
    errors: list[str] = []
    clock = time.perf_counter

    def delivered(sent_at):
        def report(err, msg):
            if err is not None:
                errors.append(err.str())
            else:
                latencies.append(clock() - sent_at)

        return report

    start = clock()
    with render.progress(f"Producing to {topic}", num_records) as bar:
        try:
            for i in range(num_records):
                if throughput > 0:
                    ahead = i / throughput - (clock() - start)
                    if ahead > 0:
                        producer.poll(0)
                        time.sleep(ahead)
                producer.produce(topic, payload, on_delivery=delivered(clock()))
                if i % 1000 == 999:
                    producer.poll(0)
                    bar.update(len(latencies))
            producer.flush()
        except KafkaException as exc:
            raise client_error(exc) from None
        finally:
            producer.close()
    elapsed = clock() - start
    if errors:
        raise KcliError(f"{len(errors)} records failed: {errors[0]}")
    render.perf_report(
        "produce",
        _report(num_records, record_size * num_records, elapsed, latencies),
        render.resolve(output),
    )


@app.command("consume")
def perf_consume(
    topic: str = typer.Argument(..., help="Topic to read (from the beginning).", metavar="TOPIC"),
    num_records: int = typer.Option(
        ..., "--num-records", "-n", help="Records to read.", metavar="N"
    ),
    output: Output | None = output_option(),
) -> None:
    """Read N records from the beginning of every partition and report records/s, MB/s and the latency of each consume() call (up to 500 records, Kafka's max.poll.records).

    Stops early, and says so, when the topic holds fewer records.
    """
    from kcli import render
    from kcli.client.types import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

    if num_records < 1:
        raise typer.BadParameter("must be 1 or more", param_hint="'--num-records'")
    b = backend()
    meta = b.topic(topic)
    try:
        consumer = b.consumer({"enable.partition.eof": True})
    except KafkaException as exc:
        raise client_error(exc) from None
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(meta.partitions)])
    clock = time.perf_counter
    latencies: list[float] = []
    count = 0
    nbytes = 0
    at_end: set[int] = set()
    start = clock()
    with render.progress(f"Consuming {topic}", num_records) as bar:
        try:
            while count < num_records and len(at_end) < meta.partitions:
                asked = clock()
                messages = consumer.consume(min(500, num_records - count), timeout=1.0)
                took = clock() - asked
                got = 0
                for msg in messages:
                    err = msg.error()
                    if err is None:
                        got += 1
                        nbytes += len(msg)
                        at_end.discard(msg.partition())
                    elif err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition())
                    else:
                        raise client_error(KafkaException(err))
                if got:
                    latencies.append(took)
                    count += got
                    bar.update(count)
        finally:
            consumer.close()
    elapsed = clock() - start
    if count < num_records:
        render.note(f"The topic holds only {count:,} records; measured those.")
    render.perf_report(
        "consume", _report(count, nbytes, elapsed, latencies), render.resolve(output)
    )


def _report(records: int, nbytes: int, elapsed: float, latencies: list[float]) -> dict:
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p * len(ms)))] if ms else 0.0

    elapsed = max(elapsed, 1e-9)
    return {
        "records": records,
        "bytes": nbytes,
        "elapsed_s": round(elapsed, 3),
        "records_per_sec": round(records / elapsed, 1),
        "mb_per_sec": round(nbytes / _MB / elapsed, 2),
        "avg_latency_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
        "max_latency_ms": round(ms[-1], 2) if ms else 0.0,
        "p50_latency_ms": round(pct(0.50), 2),
        "p95_latency_ms": round(pct(0.95), 2),
        "p99_latency_ms": round(pct(0.99), 2),
        "p999_latency_ms": round(pct(0.999), 2),
    }
