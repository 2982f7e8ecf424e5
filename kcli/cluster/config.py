"""The cluster's settings, under Kafka's broker config names and with Kafka's defaults.

``kcli cluster start --config NAME=VALUE`` takes these and every ``kcli serve`` broker config
(``kcli.serve.config``); the cluster's own keys are read by the controller and the brokers,
the others are handed to every broker as they are.  Where kcli differs from Kafka it says so:

* ``default.replication.factor`` and ``offsets.topic.replication.factor`` default to
  min(3, number of brokers): Kafka's defaults (1 and 3) would give a teaching cluster topics
  without copies, or no offsets topic at all on fewer than 3 brokers.
* ``offsets.topic.num.partitions`` defaults to 10, not 50: every partition of it is
  replicated by processes on one laptop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kcli.errors import KcliError


class ClusterConfig(BaseModel):
    """Settings of a ``kcli cluster`` (Kafka's names and defaults; see the module docstring)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    broker_session_timeout_ms: int = Field(9000, alias="broker.session.timeout.ms", ge=100)
    broker_heartbeat_interval_ms: int = Field(2000, alias="broker.heartbeat.interval.ms", ge=50)
    replica_lag_time_max_ms: int = Field(30_000, alias="replica.lag.time.max.ms", ge=100)
    replica_fetch_wait_max_ms: int = Field(500, alias="replica.fetch.wait.max.ms", ge=10)
    replica_fetch_max_bytes: int = Field(1_048_576, alias="replica.fetch.max.bytes", ge=1024)
    min_insync_replicas: int = Field(1, alias="min.insync.replicas", ge=1)
    default_replication_factor: int = Field(0, alias="default.replication.factor", ge=0)
    unclean_leader_election_enable: bool = Field(False, alias="unclean.leader.election.enable")
    auto_create_topics_enable: bool = Field(True, alias="auto.create.topics.enable")
    num_partitions: int = Field(1, alias="num.partitions", ge=1, le=10_000)
    offsets_topic_num_partitions: int = Field(10, alias="offsets.topic.num.partitions", ge=1)
    offsets_topic_replication_factor: int = Field(0, alias="offsets.topic.replication.factor", ge=0)
    controlled_shutdown_enable: bool = Field(True, alias="controlled.shutdown.enable")

    def replication_factor(self, brokers: int) -> int:
        """default.replication.factor, or min(3, brokers) when it is not set."""
        return self.default_replication_factor or min(3, brokers)

    def offsets_replication_factor(self, brokers: int) -> int:
        return self.offsets_topic_replication_factor or min(3, brokers)


CLUSTER_CONFIG_KEYS: tuple[str, ...] = tuple(
    f.alias for f in ClusterConfig.model_fields.values() if f.alias
)


def split_config(overrides: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the cluster's keys, the brokers' kcli serve keys) of ``--config``; KcliError for a
    key neither knows, or a bad value."""
    from kcli.serve.config import BROKER_CONFIG_KEYS, broker_config

    cluster, broker = {}, {}
    for key, value in overrides.items():
        if key in CLUSTER_CONFIG_KEYS:
            cluster[key] = value
        elif key in BROKER_CONFIG_KEYS:
            broker[key] = value
        else:
            known = sorted(set(CLUSTER_CONFIG_KEYS) | set(BROKER_CONFIG_KEYS))
            raise KcliError(f"unknown broker config '{key}'; valid keys are: {', '.join(known)}")
    cluster_config(cluster)
    broker_config({k: v for k, v in broker.items() if k not in CLUSTER_CONFIG_KEYS})
    return cluster, broker


def cluster_config(overrides: dict[str, str]) -> ClusterConfig:
    """A ClusterConfig from ``KEY=VALUE`` strings; KcliError naming the bad key or value."""
    try:
        return ClusterConfig.model_validate(overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error.get("loc") else "?"
        message = error["msg"]
        message = message[:1].lower() + message[1:]
        raise KcliError(
            f"invalid value '{error.get('input')}' for broker config {key}: {message}"
        ) from None
