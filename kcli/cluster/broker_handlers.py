"""The requests a cluster broker answers differently from ``kcli serve``: topic administration
goes to the controller (as a KRaft broker forwards CreateTopics), and OffsetForLeaderEpoch,
which only a broker with leader epochs can answer."""

from __future__ import annotations

import logging

from kcli.cluster.rpc import ControllerUnavailable
from kcli.serve.protocol import (
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    ErrorCode,
    IncrementalAlterConfigsResponse,
    OffsetForLeaderEpochResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats

log = logging.getLogger("kcli.cluster")


def _controller_unavailable(topics: list[dict]) -> list[dict]:
    """Each topic's result when the controller cannot be reached."""
    return [
        {
            "name": t["name"],
            "error_code": ErrorCode.REQUEST_TIMED_OUT,
            "error_message": "the controller is not available",
        }
        for t in topics
    ]


def _topic_results(result_cls, results: list[dict]) -> list:
    """The controller's per-topic answers as a response's result structs."""
    return [
        result_cls(name=r["name"], error_code=r["error_code"], error_message=r.get("error_message"))
        for r in results
    ]


class ClusterHandlers:
    """Handlers over a ``ReplicaManager``."""

    def __init__(self, manager):
        self.manager = manager

    async def _controller(self, api: str, **fields) -> dict | None:
        try:
            return await self.manager.controller.call(api, **fields)
        except ControllerUnavailable as exc:
            log.warning("%s: %s", api, exc)
            return None

    async def create_topics(self, conn: ConnectionStats, req: Request):
        body = req.body
        topics = []
        for t in body.topics:
            entry = {
                "name": t.name,
                "numPartitions": t.num_partitions,
                "replicationFactor": t.replication_factor,
                "configs": {c.name: c.value for c in t.configs if c.value is not None},
            }
            topics.append(entry)
        try:
            results = await self.manager.create_topics(topics, body.validate_only)
        except ControllerUnavailable as exc:
            log.warning("CreateTopics: %s", exc)
            results = _controller_unavailable(topics)
        for r in results:
            if r["error_code"] == 0 and not body.validate_only:
                log.info("%s created topic '%s'", conn.label, r["name"])
        return CreateTopicsResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=_topic_results(CreateTopicsResponse.CreatableTopicResult, results),
        )

    async def delete_topics(self, conn: ConnectionStats, req: Request):
        names = list(req.body.topic_names)
        answer = await self._controller("DeleteTopics", names=names)
        if answer is None:
            results = [(n, ErrorCode.REQUEST_TIMED_OUT) for n in names]
        else:
            results = [(r["name"], r["error_code"]) for r in answer["topics"]]
            gone = [n for n, code in results if code == 0]
            await self.manager.wait_for_metadata(
                lambda: not any(n in self.manager.image.topics for n in gone), 10.0
            )
        return DeleteTopicsResponse(
            version=req.version,
            throttle_time_ms=0,
            responses=[
                DeleteTopicsResponse.DeletableTopicResult(name=n, error_code=code)
                for n, code in results
            ],
        )

    async def create_partitions(self, conn: ConnectionStats, req: Request):
        body = req.body
        topics = [{"name": t.name, "count": t.count} for t in body.topics]
        answer = await self._controller(
            "CreatePartitions", topics=topics, validateOnly=body.validate_only
        )
        if answer is None:
            results = _controller_unavailable(topics)
        else:
            results = answer["topics"]
            grown = {
                r["name"]: t["count"]
                for r, t in zip(results, topics, strict=True)
                if r["error_code"] == 0
            }
            if grown and not body.validate_only:
                image = self.manager.image
                await self.manager.wait_for_metadata(
                    lambda: all(
                        n in image.topics and len(image.topics[n].partitions) >= c
                        for n, c in grown.items()
                    ),
                    10.0,
                )
        return CreatePartitionsResponse(
            version=req.version,
            throttle_time_ms=0,
            results=_topic_results(CreatePartitionsResponse.CreatePartitionsTopicResult, results),
        )

    async def incremental_alter_configs(self, conn: ConnectionStats, req: Request):
        """Checked against this broker's copy of the topic, then decided by the controller,
        so that every broker's copy changes."""
        body = req.body
        responses = []
        admin = self.manager.server.admin
        for resource in body.resources:
            error, message = await admin.run(admin._alter_configs, resource, True, True)
            if error == ErrorCode.NONE and not body.validate_only:
                configs = {c.name: c.value for c in resource.configs}
                answer = await self._controller(
                    "AlterConfigs", name=resource.resource_name, configs=configs
                )
                if answer is None:
                    error, message = ErrorCode.REQUEST_TIMED_OUT, "the controller is not available"
                elif answer["error_code"] != 0:
                    error, message = answer["error_code"], answer.get("error_message")
                else:
                    name = resource.resource_name
                    await self.manager.wait_for_metadata(
                        lambda n=name, c=configs: self._configs_applied(n, c), 10.0
                    )
            responses.append(
                IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                    error_code=error,
                    error_message=message,
                    resource_type=resource.resource_type,
                    resource_name=resource.resource_name,
                )
            )
        return IncrementalAlterConfigsResponse(
            version=req.version, throttle_time_ms=0, responses=responses
        )

    def _configs_applied(self, name: str, configs: dict) -> bool:
        topic = self.manager.image.topics.get(name)
        return topic is not None and all(topic.configs.get(k) == v for k, v in configs.items())

    async def offset_for_leader_epoch(self, conn: ConnectionStats, req: Request):
        """Where a leader epoch ended in this leader's log (KIP-101), for followers about to
        truncate and for consumers validating their position after a leader change."""
        response_cls = OffsetForLeaderEpochResponse
        topic_cls = response_cls.OffsetForLeaderTopicResult
        part_cls = topic_cls.EpochEndOffset
        topics = []
        for topic in req.body.topics:
            parts = []
            for p in topic.partitions:
                error, part = self.manager.leader_partition(topic.topic, p.partition)
                if part is not None and p.current_leader_epoch >= 0:
                    if p.current_leader_epoch < part.leader_epoch:
                        error, part = ErrorCode.FENCED_LEADER_EPOCH, None
                    elif p.current_leader_epoch > part.leader_epoch:
                        error, part = ErrorCode.UNKNOWN_LEADER_EPOCH, None
                if part is None:
                    parts.append(
                        part_cls(
                            error_code=error, partition=p.partition, leader_epoch=-1, end_offset=-1
                        )
                    )
                    continue
                epoch, end = part.epochs.end_offset_for(p.leader_epoch, part.log_end_offset)
                parts.append(
                    part_cls(
                        error_code=0, partition=p.partition, leader_epoch=epoch, end_offset=end
                    )
                )
            topics.append(topic_cls(topic=topic.topic, partitions=parts))
        return response_cls(version=req.version, throttle_time_ms=0, topics=topics)
