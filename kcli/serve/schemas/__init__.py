"""Kafka's message schemas for the KIP-848 consumer group APIs, which kafka-python's codec
does not carry: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69).

The JSON files here have the layout of Kafka's own message schemas
(clients/src/main/resources/common/message/), the fields and versions of Apache Kafka 4.1;
kafka-python's ``ApiMessage`` builds the encoders and decoders from them, as it does for the
APIs it ships.
"""

from __future__ import annotations

from kafka.protocol.api_message import ApiMessage


class ConsumerGroupHeartbeatRequest(ApiMessage, load_json=__name__):
    pass


class ConsumerGroupHeartbeatResponse(ApiMessage, load_json=__name__):
    pass


class ConsumerGroupDescribeRequest(ApiMessage, load_json=__name__):
    pass


class ConsumerGroupDescribeResponse(ApiMessage, load_json=__name__):
    pass
