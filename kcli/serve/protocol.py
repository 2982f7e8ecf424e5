"""Kafka's wire protocol as ``kcli serve`` speaks it: which APIs, which versions, how a frame
is split into header and body, and how a response is framed.

Bodies are encoded and decoded by kafka-python's ``kafka.protocol``, which builds every
request and response from the JSON schemas in Apache Kafka's own source tree, so field names
here are Kafka's (``fetch_offset``, ``high_watermark``, ``generation_id`` ...).  Record batches
are never decoded here: they travel as opaque bytes between the socket and the log.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kafka.protocol.admin import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DescribeClusterRequest,
    DescribeClusterResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
)
from kafka.protocol.consumer import (
    FetchRequest,
    FetchResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    SyncGroupRequest,
    SyncGroupResponse,
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

from kcli.client.error_codes import ErrorCode
from kcli.serve.schemas import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)

# Kafka's socket.request.max.bytes: the largest request frame a broker reads.
DEFAULT_MAX_REQUEST_BYTES = 104_857_600
# Metadata and DescribeTopicPartitions requests naming more topics than this are refused (a
# client of a cluster this size asks for every topic, with a null list, which is not limited).
MAX_TOPICS_PER_REQUEST = 10_000
METADATA_KEY = 3
# The smallest frame that can hold a request header (api key, version, correlation id,
# client id length).
MIN_REQUEST_BYTES = 10


@dataclass(frozen=True)
class Api:
    """One API key and the version range kcli serve advertises for it."""

    key: int
    name: str
    request: type
    response: type
    min_version: int
    max_version: int

    def flexible(self, version: int) -> bool:
        return self.request.flexible_version_q(version)


def _api(request: type, response: type, min_version: int, max_version: int) -> Api:
    """An API as its request class names it (``ProduceRequest``: key 0, "Produce")."""
    name = request.name.removesuffix("Request")
    return Api(request.API_KEY, name, request, response, min_version, max_version)


# The lowest versions are Kafka 4.x's minimums (every client then uses RecordBatch v2; Kafka
# 4.x still advertises Produce v0-v2 for old librdkafka's sake, kcli serve does not); the
# highest are what an Apache Kafka 4.1 broker advertises, flexible versions (KIP-482)
# included.  kafka-python's codec is generated from Kafka's own JSON schemas, which also
# carry newer (unreleased or unstable) versions: those are not offered.  The consumer
# protocol's two APIs (KIP-848), which kafka-python does not carry, have their schemas in
# ``kcli.serve.schemas``.
APIS: dict[int, Api] = {
    api.key: api
    for api in (
        _api(ProduceRequest, ProduceResponse, 3, 13),
        _api(FetchRequest, FetchResponse, 4, 18),
        _api(ListOffsetsRequest, ListOffsetsResponse, 1, 10),
        _api(MetadataRequest, MetadataResponse, 0, 13),
        _api(OffsetCommitRequest, OffsetCommitResponse, 2, 9),
        _api(OffsetFetchRequest, OffsetFetchResponse, 1, 9),
        _api(FindCoordinatorRequest, FindCoordinatorResponse, 0, 6),
        _api(JoinGroupRequest, JoinGroupResponse, 0, 9),
        _api(HeartbeatRequest, HeartbeatResponse, 0, 4),
        _api(LeaveGroupRequest, LeaveGroupResponse, 0, 5),
        _api(SyncGroupRequest, SyncGroupResponse, 0, 5),
        _api(DescribeGroupsRequest, DescribeGroupsResponse, 0, 6),
        _api(ListGroupsRequest, ListGroupsResponse, 0, 5),
        _api(ApiVersionsRequest, ApiVersionsResponse, 0, 4),
        _api(CreateTopicsRequest, CreateTopicsResponse, 2, 7),
        _api(DeleteTopicsRequest, DeleteTopicsResponse, 1, 6),
        _api(DeleteRecordsRequest, DeleteRecordsResponse, 0, 2),
        _api(InitProducerIdRequest, InitProducerIdResponse, 0, 5),
        _api(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, 2, 4),
        _api(DescribeConfigsRequest, DescribeConfigsResponse, 1, 4),
        _api(AlterConfigsRequest, AlterConfigsResponse, 0, 2),
        _api(DescribeLogDirsRequest, DescribeLogDirsResponse, 1, 4),
        _api(CreatePartitionsRequest, CreatePartitionsResponse, 0, 3),
        _api(DeleteGroupsRequest, DeleteGroupsResponse, 0, 2),
        _api(IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, 0, 1),
        _api(OffsetDeleteRequest, OffsetDeleteResponse, 0, 0),
        _api(DescribeClusterRequest, DescribeClusterResponse, 0, 2),
        _api(ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, 0, 1),
        _api(ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, 0, 1),
        _api(DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, 0, 0),
    )
}
API_VERSIONS_KEY = 18

_HEAD = struct.Struct(">hhi")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


class ProtocolError(Exception):
    """A frame that cannot be a valid request: the connection that sent it is closed."""


class RequestLimitExceeded(ProtocolError):
    """A request that asks for more than kcli serve answers in one response."""


class UnsupportedVersion(Exception):
    """A known API at a version kcli serve does not speak."""

    def __init__(self, api: Api, version: int, correlation_id: int):
        super().__init__(
            f"{api.name} v{version} is not supported (kcli serve speaks "
            f"v{api.min_version}-v{api.max_version})"
        )
        self.api = api
        self.version = version
        self.correlation_id = correlation_id


@dataclass
class Request:
    """A decoded request: its header fields and its body (a kafka.protocol message)."""

    api: Api
    version: int
    correlation_id: int
    client_id: str | None
    body: object
    size: int

    @property
    def name(self) -> str:
        return self.api.name


def peek_header(frame: bytes | memoryview) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a frame, without decoding the rest."""
    if len(frame) < MIN_REQUEST_BYTES:
        raise ProtocolError(
            f"a {len(frame)}-byte request is shorter than a request header ({MIN_REQUEST_BYTES} bytes)"
        )
    return _HEAD.unpack_from(frame, 0)


def decode_request(frame: bytes, apis: dict[int, Api] = APIS) -> Request:
    """Split a request frame (without its length prefix) into header and decoded body.

    Raises ProtocolError for anything that is not a request kcli serve knows, and
    UnsupportedVersion for a known API at an unknown version.
    """
    api_key, version, correlation_id = peek_header(frame)
    api = apis.get(api_key)
    if api is None:
        raise ProtocolError(
            f"API key {api_key} is not one kcli serve implements (ApiVersions lists those it does)"
        )
    if not api.min_version <= version <= api.max_version:
        raise UnsupportedVersion(api, version, correlation_id)
    view = memoryview(frame)
    try:
        client_id, pos = _client_id(view)
        if api.flexible(version):
            pos = _skip_tagged_fields(view, pos)
        if api_key == METADATA_KEY:
            _check_topic_count(view, pos, api.flexible(version))
        body = api.request.decode(view[pos:], version=version)
    except RequestLimitExceeded:
        raise
    except Exception as exc:  # the codec raises struct.error, ValueError, UnicodeError ...
        raise ProtocolError(
            f"cannot decode {api.name} v{version} request: {type(exc).__name__}: {exc}"
        ) from None
    return Request(api, version, correlation_id, client_id, body, len(frame))


def _check_topic_count(view: memoryview, pos: int, flexible: bool) -> None:
    """Refuse a Metadata request naming too many topics before decoding any of them."""
    if flexible:
        count, _ = _unsigned_varint(view, pos)
        count -= 1  # compact arrays store length + 1 (0: null)
    else:
        (count,) = _INT32.unpack_from(view, pos)
    if count > MAX_TOPICS_PER_REQUEST:
        raise RequestLimitExceeded(
            f"its Metadata request names {count} topics; kcli serve answers at most "
            f"{MAX_TOPICS_PER_REQUEST} per request (ask for every topic with a null list)"
        )


def _client_id(view: memoryview) -> tuple[str | None, int]:
    """The request header's client_id (a nullable int16-length string, never compact)."""
    (length,) = _INT16.unpack_from(view, 8)
    if length < 0:
        return None, 10
    if 10 + length > len(view):
        raise ValueError(f"client_id of {length} bytes runs past the end of the frame")
    return bytes(view[10 : 10 + length]).decode("utf-8"), 10 + length


def _unsigned_varint(view: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ValueError("unsigned varint is longer than 5 bytes")


def _skip_tagged_fields(view: memoryview, pos: int) -> int:
    """Skip a flexible header's tagged fields (kcli serve reads none of them)."""
    count, pos = _unsigned_varint(view, pos)
    for _ in range(count):
        _tag, pos = _unsigned_varint(view, pos)
        size, pos = _unsigned_varint(view, pos)
        pos += size
        if pos > len(view):
            raise ValueError("a tagged field runs past the end of the frame")
    return pos


def encode_response(request: Request, response: object) -> bytes:
    """Frame a response: length, response header (v0, or v1 for flexible APIs), body.

    ApiVersions always answers with a v0 header, whatever its version, so that a client
    can read the answer before it knows which versions the broker speaks.
    """
    # Length, header and body are encoded into one buffer: a Fetch response's records are
    # copied once here, not once more per concatenation (kafka-python's encoder gives
    # ApiVersions its v0 header).
    # (The version is set before the header: kafka-python cannot set it on a response header.)
    response.API_VERSION = request.version
    response.with_header(correlation_id=request.correlation_id)
    return response.encode(header=True, framed=True)


def unsupported_api_versions_response(correlation_id: int) -> bytes:
    """ApiVersions v0 with UNSUPPORTED_VERSION and the supported ranges: the client retries lower."""
    response = ApiVersionsResponse(
        version=0,
        error_code=ErrorCode.UNSUPPORTED_VERSION,
        api_keys=api_version_entries(),
    )
    body = response.encode(version=0)
    header = _INT32.pack(correlation_id)
    return _INT32.pack(len(header) + len(body)) + header + body


def api_version_entries(apis: dict[int, Api] = APIS) -> list:
    entry = ApiVersionsResponse.ApiVersion
    return [
        entry(api_key=api.key, min_version=api.min_version, max_version=api.max_version)
        for api in apis.values()
    ]
