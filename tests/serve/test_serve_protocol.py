"""kcli serve's answers at the protocol level, request by request, over a bare socket."""

from __future__ import annotations

import struct
import threading
import time

import pytest
from kafka.protocol.admin import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
)
from kafka.protocol.broker_version_data import BROKER_API_VERSIONS
from kafka.protocol.consumer import (
    FetchRequest,
    FetchResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
)
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    MetadataRequest,
    MetadataResponse,
)
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

from storage import ProducerRecord, Store, decode_batch, encode_batch
from storage.records import split_batches
from tests.waiting import wait_for

from .helpers import RawClient

# What an Apache Kafka 4.1 broker advertises (kafka-python's table of real brokers' answers),
# for the APIs kcli serve implements.  Produce starts at v3 on kcli: RecordBatch v2 only.
IMPLEMENTED = (0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 32, 33, 35,
               37, 42, 44, 47, 60, 68, 69, 75)  # fmt: skip
ADVERTISED = {
    key: (3 if key == 0 else low, high)
    for key, (low, high) in BROKER_API_VERSIONS[(4, 1)].items()
    if key in IMPLEMENTED
}


def raw_request(api_key: int, version: int, correlation_id: int, body: bytes = b"") -> bytes:
    """A request frame for a version the codec may not know: header v2 with no tagged fields."""
    client_id = b"too-new"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + b"\x00" + body
    return struct.pack(">i", len(payload)) + payload


@pytest.fixture
def client(shared_server):
    c = RawClient(shared_server.host, shared_server.port)
    yield c
    c.close()


def _create(client, name: str, partitions: int = 1, **kw) -> int:
    topic = CreateTopicsRequest[4].CreatableTopic(
        name=name,
        num_partitions=partitions,
        replication_factor=kw.pop("replication_factor", 1),
        assignments=[],
        configs=[
            CreateTopicsRequest[4].CreatableTopic.CreatableTopicConfig(name=k, value=v)
            for k, v in kw.pop("configs", {}).items()
        ],
    )
    response = client.call(
        CreateTopicsRequest,
        CreateTopicsResponse,
        4,
        topics=[topic],
        timeout_ms=10_000,
        validate_only=kw.pop("validate_only", False),
    )
    return response.topics[0].error_code


def _produce(client, version, topic, partition, records: bytes, acks=-1):
    req = ProduceRequest[version]
    data = req.TopicProduceData(
        name=topic,
        partition_data=[
            req.TopicProduceData.PartitionProduceData(index=partition, records=records)
        ],
    )
    if acks == 0:
        client.correlation_id += 1
        message = req(transactional_id=None, acks=0, timeout_ms=5000, topic_data=[data])
        message.with_header(correlation_id=client.correlation_id, client_id="raw-test")
        client.send_raw(message.encode(header=True, framed=True))
        return None
    response = client.call(
        ProduceRequest,
        ProduceResponse,
        version,
        transactional_id=None,
        acks=acks,
        timeout_ms=5000,
        topic_data=[data],
    )
    return response.responses[0].partition_responses[0]


def _now_ms() -> int:
    # Real timestamps: older ones would make the log roll (segment.ms) and retention delete.
    return int(time.time() * 1000)


def _batch(*values: bytes, key: bytes | None = None) -> bytes:
    return encode_batch(
        [ProducerRecord(v, key, (("h", b"1"),)) for v in values], timestamp=_now_ms()
    )


def _fetch(
    client,
    version,
    topic,
    partitions,
    offset=0,
    max_wait_ms=0,
    min_bytes=1,
    max_bytes=1 << 20,
    partition_max_bytes=1 << 20,
):
    req = FetchRequest[version]
    return client.call(
        FetchRequest,
        FetchResponse,
        version,
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[
            req.FetchTopic(
                topic=topic,
                partitions=[
                    req.FetchTopic.FetchPartition(
                        partition=p,
                        current_leader_epoch=-1,
                        fetch_offset=offset,
                        log_start_offset=-1,
                        partition_max_bytes=partition_max_bytes,
                    )
                    for p in partitions
                ],
            )
        ],
        forgotten_topics_data=[],
        rack_id="",
    )


# -- ApiVersions ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_api_versions_lists_exactly_the_supported_ranges(client, version):
    fields = {"client_software_name": "raw", "client_software_version": "1"} if version >= 3 else {}
    response = client.call(ApiVersionsRequest, ApiVersionsResponse, version, **fields)
    assert response.error_code == 0
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == ADVERTISED


def test_api_versions_v3_answers_with_a_v0_response_header(client):
    # A v1 (flexible) response header would put a tagged-field byte after the correlation
    # id; librdkafka reads the body right after the correlation id.
    _, body = client.request(
        ApiVersionsRequest, 3, client_software_name="raw", client_software_version="1"
    )
    assert struct.unpack(">h", body[:2])[0] == 0  # error_code comes first, at once
    assert ApiVersionsResponse.decode(body, version=3).error_code == 0


def test_unsupported_api_versions_version_gets_v0_error_body_and_connection_stays(
    shared_server, client
):
    client.correlation_id += 1
    # ApiVersions v5, as a client newer than Kafka 4.1 would send first: header v2 (flexible).
    body = b"\x04new\x029\x00"  # compact strings client_software_name/version, no tags
    client.send_raw(raw_request(18, 5, client.correlation_id, body))
    correlation_id, body = client.read_response()
    assert correlation_id == client.correlation_id
    response = ApiVersionsResponse.decode(body, version=0)
    assert response.error_code == 35  # UNSUPPORTED_VERSION
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == ADVERTISED
    # The client retries lower on the same connection.
    again = client.call(
        ApiVersionsRequest,
        ApiVersionsResponse,
        3,
        client_software_name="new",
        client_software_version="9",
    )
    assert again.error_code == 0
    wait_for(
        lambda: (
            "ApiVersions v5 is not supported" in shared_server.log()
            and "answered UNSUPPORTED_VERSION" in shared_server.log()
        ),
        what="log line",
    )


def test_unsupported_version_of_another_api_closes_the_connection(shared_server, client):
    client.correlation_id += 1
    client.send_raw(raw_request(3, 14, client.correlation_id, b"\x00\x00\x00"))
    assert client.closed_by_server()
    wait_for(lambda: "Metadata v14 is not supported" in shared_server.log(), what="log line")


def test_an_api_kcli_does_not_implement_is_not_advertised_and_closes_with_a_log_line(
    shared_server, client
):
    response = client.call(ApiVersionsRequest, ApiVersionsResponse, 0)
    assert 24 not in {k.api_key for k in response.api_keys}  # AddPartitionsToTxn
    client.correlation_id += 1
    client.send_raw(raw_request(24, 5, client.correlation_id, b"\x00\x00"))
    assert client.closed_by_server()
    wait_for(lambda: "API key 24" in shared_server.log(), what="log line")


# -- Metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 4, 8])
def test_metadata_names_node_0_at_the_exact_listening_address(shared_server, client, version):
    fields = {"allow_auto_topic_creation": False} if version >= 4 else {}
    response = client.call(MetadataRequest, MetadataResponse, version, topics=None, **fields)
    assert [(b.node_id, b.host, b.port) for b in response.brokers] == [
        (0, shared_server.host, shared_server.port)
    ]
    assert response.controller_id == 0
    if version >= 2:
        assert response.cluster_id == Store(shared_server.data_dir).cluster_id


def test_metadata_auto_creates_topics_unless_the_client_says_not_to(shared_server, client):
    response = client.call(
        MetadataRequest,
        MetadataResponse,
        8,
        topics=[MetadataRequest[8].MetadataRequestTopic(name="md-no")],
        allow_auto_topic_creation=False,
    )
    assert response.topics[0].error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION
    assert not Store(shared_server.data_dir).topic_exists("md-no")

    response = client.call(
        MetadataRequest,
        MetadataResponse,
        8,
        topics=[MetadataRequest[8].MetadataRequestTopic(name="md-yes")],
        allow_auto_topic_creation=True,
    )
    topic = response.topics[0]
    assert topic.error_code == 0
    assert [
        (p.partition_index, p.leader_id, list(p.replica_nodes), list(p.isr_nodes))
        for p in topic.partitions
    ] == [(0, 0, [0], [0])]
    assert Store(shared_server.data_dir).topic("md-yes").partitions == 1  # num.partitions

    response = client.call(
        MetadataRequest,
        MetadataResponse,
        8,
        topics=[MetadataRequest[8].MetadataRequestTopic(name="bad/name")],
        allow_auto_topic_creation=True,
    )
    assert response.topics[0].error_code == 17  # INVALID_TOPIC_EXCEPTION


# -- Produce -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 8])
def test_produce_appends_batches_and_returns_their_base_offset(shared_server, client, version):
    topic = f"produce-v{version}"
    assert _create(client, topic) == 0
    first = _produce(client, version, topic, 0, _batch(b"a", b"b"))
    second = _produce(client, version, topic, 0, _batch(b"c") + _batch(b"d", b"e"))
    assert (first.error_code, first.base_offset) == (0, 0)
    assert (second.error_code, second.base_offset) == (0, 2)
    records = Store(shared_server.data_dir).log(topic, 0).read_records(0)
    assert [(r.offset, r.value, r.headers) for r in records] == [
        (i, v, (("h", b"1"),)) for i, v in enumerate([b"a", b"b", b"c", b"d", b"e"])
    ]


def test_produce_rejects_a_bad_crc_or_magic_with_corrupt_message(shared_server, client):
    topic = "produce-corrupt"
    assert _create(client, topic) == 0
    bad_crc = bytearray(_batch(b"x"))
    bad_crc[-1] ^= 0xFF
    assert _produce(client, 8, topic, 0, bytes(bad_crc)).error_code == 2
    bad_magic = bytearray(_batch(b"x"))
    bad_magic[16] = 1
    assert _produce(client, 8, topic, 0, bytes(bad_magic)).error_code == 2
    # A valid batch followed by a broken one: the whole request for the partition is refused.
    assert _produce(client, 8, topic, 0, _batch(b"ok") + bytes(bad_crc)).error_code == 2
    assert _produce(client, 8, topic, 0, _batch(b"ok")[:-3]).error_code == 2
    assert Store(shared_server.data_dir).log(topic, 0).log_end_offset == 0
    assert _produce(client, 8, "no-such-topic", 0, _batch(b"x")).error_code == 3


def test_produce_with_acks_0_gets_no_response(shared_server, client):
    topic = "produce-acks0"
    assert _create(client, topic) == 0
    assert _produce(client, 8, topic, 0, _batch(b"fire"), acks=0) is None
    # The next response on the connection answers the next request, not the acks=0 one.
    response = client.call(ApiVersionsRequest, ApiVersionsResponse, 0)
    assert response.error_code == 0
    log = Store(shared_server.data_dir).log(topic, 0)
    wait_for(lambda: log.log_end_offset == 1, what="the acks=0 record")


def test_init_producer_id_hands_out_distinct_ids(client):
    ids = {
        client.call(
            InitProducerIdRequest,
            InitProducerIdResponse,
            v,
            transactional_id=None,
            transaction_timeout_ms=60_000,
        ).producer_id
        for v in (0, 1, 1)
    }
    assert len(ids) == 3 and all(i >= 0 for i in ids)


# -- Fetch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 11])
def test_fetch_returns_every_requested_partition_with_offsets(shared_server, client, version):
    topic = f"fetch-v{version}"
    assert _create(client, topic, 3) == 0
    _produce(client, 8, topic, 1, _batch(b"one", b"two"))
    response = _fetch(client, version, topic, [0, 1, 2])
    if version >= 7:
        assert response.session_id == 0
    parts = {p.partition_index: p for p in response.responses[0].partitions}
    assert sorted(parts) == [0, 1, 2]
    for p in parts.values():
        assert p.error_code == 0
        assert p.last_stable_offset == p.high_watermark
        if version >= 5:
            assert p.log_start_offset == 0
    assert (parts[0].high_watermark, parts[0].records) == (0, b"")
    assert parts[1].high_watermark == 2
    batches = split_batches(parts[1].records)
    assert [r.value for b in batches for r in decode_batch(bytes(b))] == [b"one", b"two"]


def test_fetch_out_of_range_is_error_1(client):
    topic = "fetch-range"
    assert _create(client, topic) == 0
    _produce(client, 8, topic, 0, _batch(b"x"))
    part = _fetch(client, 11, topic, [0], offset=5).responses[0].partitions[0]
    assert (part.error_code, part.high_watermark, part.log_start_offset) == (1, 1, 0)


def test_fetch_returns_one_whole_batch_even_above_max_bytes(client):
    topic = "fetch-big"
    assert _create(client, topic) == 0
    big = _batch(b"x" * 5000)
    _produce(client, 8, topic, 0, big + _batch(b"y" * 5000))
    part = _fetch(client, 11, topic, [0], max_bytes=100, partition_max_bytes=100)
    records = part.responses[0].partitions[0].records
    assert len(split_batches(records)) == 1 and len(records) == len(big)


def test_fetch_long_polls_until_a_record_arrives_over_the_wire(shared_server, client):
    topic = "fetch-wait-wire"
    assert _create(client, topic) == 0
    result = {}

    def fetch():
        # max_wait_ms far beyond the socket timeout: only a wake-up can answer in time.
        waiting = RawClient(shared_server.host, shared_server.port, timeout=60)
        try:
            result["r"] = _fetch(waiting, 11, topic, [0], max_wait_ms=2_000_000_000)
        finally:
            waiting.close()

    thread = threading.Thread(target=fetch)
    thread.start()
    time.sleep(0.3)  # let the fetch start waiting (if it has not, it finds the record anyway)
    _produce(client, 8, topic, 0, _batch(b"wake"))
    thread.join(90)
    records = result["r"].responses[0].partitions[0].records
    assert [r.value for r in decode_batch(records)] == [b"wake"]


def test_fetch_long_poll_sees_appends_by_another_process(shared_server, client):
    topic = "fetch-wait-store"
    assert _create(client, topic) == 0
    result = {}

    def fetch():
        waiting = RawClient(shared_server.host, shared_server.port, timeout=60)
        try:
            result["r"] = _fetch(waiting, 11, topic, [0], max_wait_ms=2_000_000_000)
        finally:
            waiting.close()

    thread = threading.Thread(target=fetch)
    thread.start()
    time.sleep(0.3)
    # This test process is not the server: the append reaches it only through the files.
    Store(shared_server.data_dir).log(topic, 0).append(_batch(b"from-disk"))
    thread.join(90)
    records = result["r"].responses[0].partitions[0].records
    assert [r.value for r in decode_batch(records)] == [b"from-disk"]


def test_fetch_waits_max_wait_ms_then_answers_with_what_there_is(client):
    topic = "fetch-min-bytes"
    assert _create(client, topic) == 0
    _produce(client, 8, topic, 0, _batch(b"small"))
    part = _fetch(client, 11, topic, [0], max_wait_ms=200, min_bytes=10_000_000)
    assert [r.value for r in decode_batch(part.responses[0].partitions[0].records)] == [b"small"]


# -- ListOffsets ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 5])
def test_list_offsets_earliest_latest_and_by_time(shared_server, client, version):
    topic = f"list-offsets-v{version}"
    assert _create(client, topic) == 0
    now = _now_ms()
    for ts in (now - 3000, now - 2000, now - 1000):
        batch = encode_batch([ProducerRecord(b"v")], timestamp=ts)
        _produce(client, 8, topic, 0, batch)
    req = ListOffsetsRequest[version]

    def lookup(timestamp):
        response = client.call(
            ListOffsetsRequest,
            ListOffsetsResponse,
            version,
            replica_id=-1,
            isolation_level=0,
            topics=[
                req.ListOffsetsTopic(
                    name=topic,
                    partitions=[
                        req.ListOffsetsTopic.ListOffsetsPartition(
                            partition_index=0, current_leader_epoch=-1, timestamp=timestamp
                        )
                    ],
                )
            ],
        )
        p = response.topics[0].partitions[0]
        assert p.error_code == 0
        return p.offset, p.timestamp

    assert lookup(-2)[0] == 0
    assert lookup(-1)[0] == 3
    assert lookup(now - 2500) == (1, now - 2000)
    assert lookup(now + 60_000) == (-1, -1)


# -- topics and configs --------------------------------------------------------------------


def test_create_topics_validates_like_a_single_broker(shared_server, client):
    assert _create(client, "ct-rf", replication_factor=3) == 38  # INVALID_REPLICATION_FACTOR
    assert _create(client, "ct-valid", 2, validate_only=True) == 0
    assert not Store(shared_server.data_dir).topic_exists("ct-valid")
    assert _create(client, "ct-conf", configs={"retention.ms": "soon"}) == 40  # INVALID_CONFIG
    assert _create(client, "bad name!") == 17
    assert _create(client, "ct-zero", 0) == 37  # INVALID_PARTITIONS
    assert _create(client, "ct-ok", 2, configs={"retention.ms": "60000"}) == 0
    assert _create(client, "ct-ok", 2) == 36  # TOPIC_ALREADY_EXISTS
    assert Store(shared_server.data_dir).topic("ct-ok").partitions == 2


def test_describe_configs_reports_overrides_and_defaults(client):
    assert _create(client, "dc", configs={"retention.ms": "60000"}) == 0
    req = DescribeConfigsRequest[3]
    response = client.call(
        DescribeConfigsRequest,
        DescribeConfigsResponse,
        3,
        resources=[
            req.DescribeConfigsResource(
                resource_type=2, resource_name="dc", configuration_keys=None
            ),
            req.DescribeConfigsResource(
                resource_type=4, resource_name="0", configuration_keys=["num.partitions"]
            ),
            req.DescribeConfigsResource(
                resource_type=2, resource_name="dc-missing", configuration_keys=None
            ),
        ],
        include_synonyms=False,
        include_documentation=False,
    )
    topic, broker, missing = response.results
    configs = {c.name: (c.value, c.config_source) for c in topic.configs}
    assert configs["retention.ms"] == ("60000", 1)  # DYNAMIC_TOPIC_CONFIG
    assert configs["segment.bytes"] == ("1073741824", 5)  # DEFAULT_CONFIG
    assert [(c.name, c.value) for c in broker.configs] == [("num.partitions", "1")]
    assert missing.error_code == 3


def test_delete_topics(shared_server, client):
    assert _create(client, "doomed") == 0
    response = client.call(
        DeleteTopicsRequest,
        DeleteTopicsResponse,
        3,
        topic_names=["doomed", "never-was"],
        timeout_ms=10_000,
    )
    assert {r.name: r.error_code for r in response.responses} == {"doomed": 0, "never-was": 3}
    assert not Store(shared_server.data_dir).topic_exists("doomed")


def test_find_coordinator_is_this_broker(shared_server, client):
    for version in (0, 1, 2):
        fields = {"key_type": 0} if version >= 1 else {}
        response = client.call(
            FindCoordinatorRequest, FindCoordinatorResponse, version, key="some-group", **fields
        )
        assert (response.error_code, response.node_id, response.host, response.port) == (
            0,
            0,
            shared_server.host,
            shared_server.port,
        )


def test_idempotent_retries_are_acknowledged_once_and_gaps_refused(shared_server, client):
    topic = "idempotent"
    assert _create(client, topic) == 0
    pid = client.call(
        InitProducerIdRequest,
        InitProducerIdResponse,
        1,
        transactional_id=None,
        transaction_timeout_ms=60_000,
    ).producer_id

    def batch(seq, *values):
        records = [ProducerRecord(v) for v in values]
        return encode_batch(
            records, timestamp=_now_ms(), producer_id=pid, producer_epoch=0, base_sequence=seq
        )

    first = batch(0, b"a", b"b")
    response = _produce(client, 8, topic, 0, first)
    assert (response.error_code, response.base_offset) == (0, 0)
    assert _produce(client, 8, topic, 0, batch(2, b"c")).base_offset == 2
    # A retry of the first request (its response was lost, say): same offsets, no new copy.
    retry = _produce(client, 8, topic, 0, first)
    assert (retry.error_code, retry.base_offset) == (0, 0)
    # A gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert _produce(client, 8, topic, 0, batch(7, b"z")).error_code == 45
    values = [r.value for r in Store(shared_server.data_dir).log(topic, 0).read_records(0)]
    assert values == [b"a", b"b", b"c"]
