"""Bad input on the wire: the offending connection is closed with a log line, memory stays
bounded and every other client keeps being served."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    MetadataRequest,
    MetadataResponse,
)

from tests.waiting import wait_for

from .helpers import FAST_GROUPS, RawClient, ServeProcess

MAX_REQUEST = 1 << 20
READ_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    d = tmp_path_factory.mktemp("guarded")
    (d / "data").mkdir()
    proc = ServeProcess(
        d / "data",
        d / "serve.log",
        (
            *FAST_GROUPS,
            f"socket.request.max.bytes={MAX_REQUEST}",
            f"request.read.timeout.ms={READ_TIMEOUT_MS}",
        ),
    ).start()
    yield proc
    if proc.alive():
        proc.proc.kill()
        proc.proc.wait()


def _header(api_key: int, version: int, client_id: bytes = b"bad") -> bytes:
    return struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _metadata_v8() -> bytes:
    message = MetadataRequest[8](
        topics=None,
        allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )
    message.with_header(correlation_id=1, client_id="bad")
    return message.encode(header=True, framed=False)


BAD_INPUTS = {
    "negative length": (struct.pack(">i", -5), "frame length -5 is negative"),
    "length over socket.request.max.bytes": (
        struct.pack(">i", MAX_REQUEST + 1) + b"x" * 1000,
        f"frame length {MAX_REQUEST + 1} is larger than socket.request.max.bytes={MAX_REQUEST}",
    ),
    "length too short for a header": (struct.pack(">i", 3) + b"abc", "frame length 3 is too short"),
    "truncated frame": (struct.pack(">i", 100) + b"\0" * 50, "after 50 bytes of a 100-byte frame"),
    "unknown api key": (_frame(_header(999, 0)), "API key 999 is not one kcli serve implements"),
    # SaslHandshake (17): a real Kafka API that kcli serve does not offer (no authentication).
    "api kcli serve does not implement": (
        _frame(_header(17, 1)),
        "API key 17 is not one kcli serve implements",
    ),
    "garbage body": (_frame(_header(0, 8) + b"\x00\x01"), "cannot decode Produce v8 request"),
    "request cut inside its frame": (_frame(_metadata_v8()[:-3]), "cannot decode Metadata v8"),
    "client id longer than the frame": (
        _frame(struct.pack(">hhih", 3, 8, 7, 5000) + b"abc"),
        "cannot decode Metadata v8",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_frame_closes_only_its_connection(guarded, case):
    payload, message = BAD_INPUTS[case]
    healthy = RawClient(guarded.host, guarded.port)
    assert (
        healthy.call(
            ApiVersionsRequest,
            ApiVersionsResponse,
            3,
            client_software_name="ok",
            client_software_version="1",
        ).error_code
        == 0
    )
    bad = RawClient(guarded.host, guarded.port)
    bad.send_raw(payload)
    if case == "truncated frame":
        bad.sock.shutdown(socket.SHUT_WR)
    assert bad.closed_by_server()
    wait_for(lambda: message in guarded.log(), what=f"log line {message!r}")
    # The other connection, opened before, is still served.
    response = healthy.call(
        MetadataRequest, MetadataResponse, 8, topics=None, allow_auto_topic_creation=False
    )
    assert response.brokers[0].port == guarded.port
    healthy.close()
    bad.close()
    assert guarded.alive()


def test_default_limit_is_kafkas_socket_request_max_bytes(shared_server):
    bad = RawClient(shared_server.host, shared_server.port)
    bad.send_raw(struct.pack(">i", 104857601))
    assert bad.closed_by_server()
    wait_for(
        lambda: "larger than socket.request.max.bytes=104857600" in shared_server.log(),
        what="log line",
    )


def test_slow_loris_clients_are_cut_off(guarded):
    healthy = RawClient(guarded.host, guarded.port)
    stalled = RawClient(guarded.host, guarded.port)
    stalled.send_raw(b"\x00\x00")  # half a length prefix, then nothing
    trickler = RawClient(guarded.host, guarded.port)
    message = _frame(_metadata_v8())
    stop = threading.Event()

    def trickle():
        for byte in message:
            if stop.is_set():
                return
            try:
                trickler.send_raw(bytes([byte]))
            except OSError:
                return
            time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        assert stalled.closed_by_server()
        assert trickler.closed_by_server()
    finally:
        stop.set()
    expected = f"did not arrive whole within request.read.timeout.ms={READ_TIMEOUT_MS}"
    wait_for(lambda: guarded.log().count(expected) >= 2, what="two slow-loris log lines")
    assert healthy.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    for c in (healthy, stalled, trickler):
        c.close()


def test_idle_connections_are_closed_and_connections_are_capped(serve_factory):
    server = serve_factory("connections.max.idle.ms=1500", "max.connections=3")
    clients = [RawClient(server.host, server.port) for _ in range(3)]
    for c in clients:
        assert c.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    extra = RawClient(server.host, server.port)
    assert extra.closed_by_server()
    wait_for(
        lambda: "refused connection" in server.log() and "max.connections=3" in server.log(),
        what="refusal log line",
    )
    for c in clients:
        assert c.closed_by_server()
    wait_for(lambda: server.log().count("closed idle connection") >= 3, what="idle log lines")
    again = RawClient(server.host, server.port)
    assert again.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    for c in (*clients, extra, again):
        c.close()


def test_memory_stays_bounded_under_many_large_stalled_frames(serve_factory):
    frame_bytes = 8 << 20
    budget = 16 << 20
    server = serve_factory(
        f"socket.request.max.bytes={frame_bytes}",
        f"queued.max.request.bytes={budget}",
        "request.read.timeout.ms=6000",
        "max.connections=100",
    )
    healthy = RawClient(server.host, server.port)
    assert healthy.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    baseline = server.rss_kib()
    attackers = [RawClient(server.host, server.port, timeout=20) for _ in range(24)]
    sent = 6 << 20  # of an announced 8 MiB: these frames never complete

    def attack(c):
        try:
            c.send_raw(struct.pack(">i", frame_bytes) + b"\0" * sent)
        except OSError:
            pass  # the server stopped reading or closed: that is the point

    threads = [threading.Thread(target=attack, args=(c,), daemon=True) for c in attackers]
    for t in threads:
        t.start()
    peak = baseline
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        peak = max(peak, server.rss_kib())
        # Ordinary small requests keep being answered while large frames wait for room.
        assert healthy.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
        time.sleep(0.1)
    # 24 x 6 MiB were sent; the server may hold about the 16 MiB budget (plus copies).
    assert (peak - baseline) < 72 << 10, f"RSS grew by {(peak - baseline) >> 10} MiB"
    for c in attackers:
        assert c.closed_by_server()
    wait_for(
        lambda: server.log().count("request.read.timeout.ms=6000") >= 24,
        what="every stalled frame cut off",
    )
    assert healthy.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    for c in (healthy, *attackers):
        c.close()


def test_large_requests_beyond_the_budget_wait_their_turn_and_all_succeed(serve_factory):
    from kafka.protocol.producer import ProduceRequest, ProduceResponse

    from storage import ProducerRecord, Store, encode_batch

    budget = 5 << 20
    server = serve_factory(
        f"socket.request.max.bytes={budget}", f"queued.max.request.bytes={budget}"
    )
    Store(server.data_dir).create_topic("big", 1, {"max.message.bytes": str(4 << 20)})
    req = ProduceRequest[8]
    results = []

    def produce(i):
        batch = encode_batch(
            [ProducerRecord(bytes([i]) * (3 << 20))], timestamp=int(time.time() * 1000)
        )
        data = req.TopicProduceData(
            name="big",
            partition_data=[req.TopicProduceData.PartitionProduceData(index=0, records=batch)],
        )
        client = RawClient(server.host, server.port, timeout=120)
        response = client.call(
            ProduceRequest,
            ProduceResponse,
            8,
            transactional_id=None,
            acks=-1,
            timeout_ms=30_000,
            topic_data=[data],
        )
        client.close()
        results.append(response.responses[0].partition_responses[0].error_code)

    # Three 3 MiB requests at once, room for one at a time: each waits, none is cut off.
    threads = [threading.Thread(target=produce, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert results == [0, 0, 0]
    assert Store(server.data_dir).log("big", 0).log_end_offset == 3


# -- bounded work per request, and connections that never send a request ----------------


def _metadata_frame(count: int, name_bytes: int = 30) -> bytes:
    names = b"".join(
        struct.pack(">h", name_bytes) + (b"t%09d" % i).ljust(name_bytes, b"x") for i in range(count)
    )
    body = struct.pack(">i", count) + names + b"\x00"  # v4, allow_auto_topic_creation false
    header = struct.pack(">hhih", 3, 4, 1, 4) + b"many"
    return struct.pack(">i", len(header) + len(body)) + header + body


def test_a_metadata_request_naming_too_many_topics_is_refused_with_a_log_line(serve_factory):
    server = serve_factory()
    flood = RawClient(server.host, server.port)
    flood.send_raw(_metadata_frame(200_000))
    assert flood.closed_by_server()
    wait_for(
        lambda: "names 200000 topics; kcli serve answers at most 10000" in server.log(),
        what="log line",
    )
    # One under the cap is answered, one entry per distinct name.
    ok = RawClient(server.host, server.port)
    ok.send_raw(_metadata_frame(10_000))
    _, body = ok.read_response()
    response = MetadataResponse.decode(body, version=4)
    assert len(response.topics) == 10_000
    assert {t.error_code for t in response.topics} == {3}
    for c in (flood, ok):
        c.close()


def test_connections_that_send_no_request_are_closed_and_never_lock_clients_out(serve_factory):
    server = serve_factory("max.connections=20", "connection.first.request.timeout.ms=3000")
    idle = [socket.create_connection((server.host, server.port)) for _ in range(20)]
    time.sleep(0.5)
    # At max.connections, a new client is served: the oldest unused connection makes room.
    newcomer = RawClient(server.host, server.port)
    assert newcomer.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    wait_for(lambda: "which sent no request" in server.log(), what="eviction log line")
    # The others are closed once connection.first.request.timeout.ms passes without a request;
    # the client that sent one stays.
    wait_for(
        lambda: (
            server.log().count(
                "no complete request within connection.first.request.timeout.ms=3000"
            )
            >= 19
        ),
        what="first-request timeout log lines",
    )
    assert newcomer.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    for s in idle:
        s.close()
    newcomer.close()


def test_max_connections_per_ip_refuses_busy_clients_beyond_it(serve_factory):
    server = serve_factory("max.connections.per.ip=3")
    clients = [RawClient(server.host, server.port) for _ in range(3)]
    for c in clients:
        assert c.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
    extra = RawClient(server.host, server.port)
    assert extra.closed_by_server()
    wait_for(lambda: "max.connections.per.ip=3" in server.log(), what="refusal log line")
    for c in (*clients, extra):
        c.close()
