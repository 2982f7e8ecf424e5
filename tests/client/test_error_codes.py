"""The one table from the store's errors to Kafka's error codes, and back."""

from __future__ import annotations

import pytest

from kcli.client.error_codes import error_name, kafka_error_code, storage_error_type
from storage import errors as se

# Kafka's names (org.apache.kafka.common.protocol.Errors, as confluent-kafka spells them).
EXPECTED = {
    se.TopicNotFound: "UNKNOWN_TOPIC_OR_PART",
    se.PartitionNotFound: "UNKNOWN_TOPIC_OR_PART",
    se.TopicAlreadyExists: "TOPIC_ALREADY_EXISTS",
    se.InvalidTopicName: "INVALID_TOPIC_EXCEPTION",
    se.InvalidPartitions: "INVALID_PARTITIONS",
    se.InvalidConfig: "INVALID_CONFIG",
    se.RecordTooLarge: "MSG_SIZE_TOO_LARGE",
    se.InvalidRecord: "INVALID_RECORD",
    se.CorruptRecord: "CORRUPT_MESSAGE",
    se.LogGap: "CORRUPT_MESSAGE",
    se.OutOfOrderSequence: "OUT_OF_ORDER_SEQUENCE_NUMBER",
    se.InvalidProducerEpoch: "INVALID_PRODUCER_EPOCH",
    se.InvalidGroupId: "INVALID_GROUP_ID",
    se.GroupNotFound: "GROUP_ID_NOT_FOUND",
    se.GroupNotEmpty: "NON_EMPTY_GROUP",
    se.IllegalGeneration: "ILLEGAL_GENERATION",
    se.UnknownMemberId: "UNKNOWN_MEMBER_ID",
    se.RebalanceInProgress: "REBALANCE_IN_PROGRESS",
    se.InconsistentGroupProtocol: "INCONSISTENT_GROUP_PROTOCOL",
    se.GroupProtocolMismatch: "INCONSISTENT_GROUP_PROTOCOL",
    se.FencedInstanceId: "FENCED_INSTANCE_ID",
    se.InvalidSessionTimeout: "INVALID_SESSION_TIMEOUT",
}


@pytest.mark.parametrize("cls", EXPECTED, ids=lambda c: c.__name__)
def test_each_store_error_has_kafkas_code(cls):
    assert error_name(kafka_error_code(cls("x"))) == EXPECTED[cls]


@pytest.mark.parametrize("cls", [se.DataDirError, se.DamagedTopicFile, se.GroupError, ValueError])
def test_errors_kafka_has_no_code_for_get_the_default(cls):
    assert kafka_error_code(cls("x"), default=-42) == -42


def test_the_way_back_gives_the_most_specific_error_of_each_code():
    for cls, name in EXPECTED.items():
        back = storage_error_type(kafka_error_code(cls("x")))
        assert back is not None and error_name(kafka_error_code(back("x"))) == name
    assert storage_error_type(kafka_error_code(se.GroupNotFound("g"))) is se.GroupNotFound
    # OffsetOutOfRange carries offsets that a code alone does not tell.
    assert storage_error_type(kafka_error_code(se.OffsetOutOfRange("x", offset=5, log_start_offset=0, log_end_offset=1))) is None
