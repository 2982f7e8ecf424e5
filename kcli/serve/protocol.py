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
from enum import IntEnum

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

# Kafka's socket.request.max.bytes: the largest request frame a broker reads.
DEFAULT_MAX_REQUEST_BYTES = 104_857_600
# Metadata and DescribeTopicPartitions requests naming more topics than this are refused (a
# client of a cluster this size asks for every topic, with a null list, which is not limited).
MAX_TOPICS_PER_REQUEST = 10_000
METADATA_KEY = 3
# The smallest frame that can hold a request header (api key, version, correlation id,
# client id length).
MIN_REQUEST_BYTES = 10


class ErrorCode(IntEnum):
    """The error codes kcli serve returns, under Kafka's names (org.apache.kafka.common.protocol.Errors)."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    OFFSET_METADATA_TOO_LARGE = 12
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    UNKNOWN_PRODUCER_ID = 59
    GROUP_ID_NOT_FOUND = 69
    NON_EMPTY_GROUP = 68
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    STALE_BROKER_EPOCH = 77
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    INVALID_UPDATE_VERSION = 95
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    INELIGIBLE_REPLICA = 107


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


# The lowest versions are Kafka 4.x's minimums (every client then uses RecordBatch v2; Kafka
# 4.x still advertises Produce v0-v2 for old librdkafka's sake, kcli serve does not); the
# highest are what an Apache Kafka 4.1 broker advertises, flexible versions (KIP-482)
# included.  kafka-python's codec is generated from Kafka's own JSON schemas, which also
# carry newer (unreleased or unstable) versions: those are not offered.
APIS: dict[int, Api] = {
    api.key: api
    for api in (
        Api(0, "Produce", ProduceRequest, ProduceResponse, 3, 13),
        Api(1, "Fetch", FetchRequest, FetchResponse, 4, 18),
        Api(2, "ListOffsets", ListOffsetsRequest, ListOffsetsResponse, 1, 10),
        Api(3, "Metadata", MetadataRequest, MetadataResponse, 0, 13),
        Api(8, "OffsetCommit", OffsetCommitRequest, OffsetCommitResponse, 2, 9),
        Api(9, "OffsetFetch", OffsetFetchRequest, OffsetFetchResponse, 1, 9),
        Api(10, "FindCoordinator", FindCoordinatorRequest, FindCoordinatorResponse, 0, 6),
        Api(11, "JoinGroup", JoinGroupRequest, JoinGroupResponse, 0, 9),
        Api(12, "Heartbeat", HeartbeatRequest, HeartbeatResponse, 0, 4),
        Api(13, "LeaveGroup", LeaveGroupRequest, LeaveGroupResponse, 0, 5),
        Api(14, "SyncGroup", SyncGroupRequest, SyncGroupResponse, 0, 5),
        Api(15, "DescribeGroups", DescribeGroupsRequest, DescribeGroupsResponse, 0, 6),
        Api(16, "ListGroups", ListGroupsRequest, ListGroupsResponse, 0, 5),
        Api(18, "ApiVersions", ApiVersionsRequest, ApiVersionsResponse, 0, 4),
        Api(19, "CreateTopics", CreateTopicsRequest, CreateTopicsResponse, 2, 7),
        Api(20, "DeleteTopics", DeleteTopicsRequest, DeleteTopicsResponse, 1, 6),
        Api(21, "DeleteRecords", DeleteRecordsRequest, DeleteRecordsResponse, 0, 2),
        Api(22, "InitProducerId", InitProducerIdRequest, InitProducerIdResponse, 0, 5),
        Api(
            23,
            "OffsetForLeaderEpoch",
            OffsetForLeaderEpochRequest,
            OffsetForLeaderEpochResponse,
            2,
            4,
        ),
        Api(32, "DescribeConfigs", DescribeConfigsRequest, DescribeConfigsResponse, 1, 4),
        Api(33, "AlterConfigs", AlterConfigsRequest, AlterConfigsResponse, 0, 2),
        Api(35, "DescribeLogDirs", DescribeLogDirsRequest, DescribeLogDirsResponse, 1, 4),
        Api(37, "CreatePartitions", CreatePartitionsRequest, CreatePartitionsResponse, 0, 3),
        Api(42, "DeleteGroups", DeleteGroupsRequest, DeleteGroupsResponse, 0, 2),
        Api(
            44,
            "IncrementalAlterConfigs",
            IncrementalAlterConfigsRequest,
            IncrementalAlterConfigsResponse,
            0,
            1,
        ),
        Api(47, "OffsetDelete", OffsetDeleteRequest, OffsetDeleteResponse, 0, 0),
        Api(60, "DescribeCluster", DescribeClusterRequest, DescribeClusterResponse, 0, 2),
        Api(
            75,
            "DescribeTopicPartitions",
            DescribeTopicPartitionsRequest,
            DescribeTopicPartitionsResponse,
            0,
            0,
        ),
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

