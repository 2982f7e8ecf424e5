"""``kcli cluster elect-leaders``: ask the controller for preferred or unclean elections."""

from __future__ import annotations

from kcli.errors import KcliError
from kcli.serve.protocol import ErrorCode


def elect_leaders(cluster, kind: str, topic: str | None) -> list[dict]:
    """One dict per partition: topic, partition, result (Kafka's error name or NONE), leader."""
    answer = cluster.call("ElectLeaders", electionType=kind, topic=topic)
    if answer["error_code"] != 0:
        raise KcliError(answer.get("error_message") or ErrorCode(answer["error_code"]).name)
    return [
        {
            "topic": r["topic"],
            "partition": r["partition"],
            "result": ErrorCode(r["error_code"]).name,
            "leader": r["leader"],
        }
        for r in answer["results"]
    ]
