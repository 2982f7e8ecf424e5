"""Raw Produce frames carrying mutated batches (valid CRC, contradictory contents): `kcli serve`
refuses each with CORRUPT_MESSAGE or INVALID_RECORD, or stores it so that it reads back
exactly; the partition stays readable throughout, the good records around them included."""

from __future__ import annotations

from batch_mutations import BASE_TS, mutated_batches, reference_records
from hypothesis import HealthCheck, given, settings
from kafka.protocol.producer import ProduceRequest, ProduceResponse

from storage import Store, encode_batch
from tests.conftest import run_kcli

from .helpers import RawClient
from .test_serve_protocol import _create

CORRUPT_MESSAGE = 2
INVALID_RECORD = 87


def _produce(client, records: bytes):
    req = ProduceRequest[8]
    data = req.TopicProduceData(
        name="fuzz",
        partition_data=[req.TopicProduceData.PartitionProduceData(index=0, records=records)],
    )
    response = client.call(
        ProduceRequest,
        ProduceResponse,
        8,
        transactional_id=None,
        acks=-1,
        timeout_ms=5000,
        topic_data=[data],
    )
    return response.responses[0].partition_responses[0]


def test_mutated_produce_requests_are_refused_or_read_back_exactly(server):
    client = RawClient(server.host, server.port)
    # Old timestamps (the mutations use a fixed one) must not make retention delete anything.
    assert _create(client, "fuzz", configs={"retention.ms": "-1"}) == 0
    good = encode_batch([b"good-%d" % i for i in range(3)], timestamp=BASE_TS)
    assert _produce(client, good).error_code == 0
    log = Store(server.data_dir).log("fuzz", 0)
    accepted = refused = 0

    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(batch=mutated_batches())
    def one(batch):
        nonlocal accepted, refused
        before = log.log_end_offset
        answer = _produce(client, batch)
        if answer.error_code:
            assert answer.error_code in (CORRUPT_MESSAGE, INVALID_RECORD), answer
            assert log.log_end_offset == before
            refused += 1
            return
        accepted += 1
        expected = reference_records(batch)
        got = log.read_records(answer.base_offset, max_records=len(expected) + 1)
        assert [
            (r.offset - answer.base_offset, r.timestamp, r.key, r.value, r.headers) for r in got
        ] == expected

    one()
    assert refused > 0
    assert _produce(client, good).error_code == 0
    client.close()
    # The whole partition still reads, from the first good record to the last.
    end = log.log_end_offset
    log.check()
    out = run_kcli(server.data_dir, "consume", "fuzz", "--from-beginning", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) >= 6
    assert log.read_records(0, 3)[0].value == b"good-0"
    assert log.read_records(end - 1, 1)[0].value == b"good-2"
