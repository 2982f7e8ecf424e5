"""kcli: learn Apache Kafka on your laptop.

The client API mirrors confluent-kafka's names so a script moves to real Kafka by changing
its import::

    from kcli import Producer, Consumer, AdminClient, TopicPartition, NewTopic

``Producer``, ``Consumer`` and ``AdminClient`` talk to the cluster named by
``bootstrap.servers`` when the config has one (through confluent-kafka), and to the local
store (``data.dir``) otherwise: see kcli.api.

Names are imported lazily so that ``kcli --help`` does not pay for the engine.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Producer": "kcli.api",
    "Consumer": "kcli.api",
    "AdminClient": "kcli.api",
    "NewTopic": "kcli.client.types",
    "NewPartitions": "kcli.client.types",
    "TopicPartition": "kcli.client.types",
    "Message": "kcli.client.types",
    "KafkaError": "kcli.client.types",
    "KafkaException": "kcli.client.types",
    "TIMESTAMP_NOT_AVAILABLE": "kcli.client.types",
    "TIMESTAMP_CREATE_TIME": "kcli.client.types",
    "TIMESTAMP_LOG_APPEND_TIME": "kcli.client.types",
    "OFFSET_BEGINNING": "kcli.client.types",
    "OFFSET_END": "kcli.client.types",
    "OFFSET_STORED": "kcli.client.types",
    "OFFSET_INVALID": "kcli.client.types",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kcli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
