"""What ``kcli cluster status`` shows: every process's state, and every partition's leader,
epochs, replicas, ISR, high watermark and each replica's log end offset.

The partition states come from the controller (or, while it is down, from replaying its
metadata log); log end offsets are read from each broker's log directory, and high watermarks
from each broker's ``replication-offset-checkpoint``, so a killed or paused broker still shows
what it holds on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from kcli.cluster import rpc
from kcli.cluster.constants import HOST, HW_CHECKPOINT_FILE
from kcli.cluster.launcher import CONTROLLER, Cluster, broker_dir, process_state
from kcli.cluster.metadata import MetadataImage
from storage.offset_checkpoint import read_offset_checkpoint


def _image(cluster: Cluster, state: dict) -> dict:
    if process_state(state["processes"].get(CONTROLLER)) == "running":
        try:
            return rpc.call(HOST, state["controller_port"], "DescribeCluster", timeout_s=5)
        except rpc.ControllerUnavailable:
            pass
    path = cluster.directory / CONTROLLER / "metadata.log"
    image = MetadataImage()
    if path.exists():
        for offset, line in enumerate(path.read_text().splitlines()):
            try:
                image.apply(offset, json.loads(line))
            except ValueError:
                break
    return image.to_json()


def _checkpoint(directory: Path) -> dict[tuple[str, int], int]:
    return read_offset_checkpoint(directory / HW_CHECKPOINT_FILE)


def _log_end_offset(directory: Path, topic: str, partition: int) -> int | None:
    from storage import StorageError, Store

    try:
        store = Store(directory, create=False)
        try:
            return store.log(topic, partition).log_end_offset
        finally:
            store.close()
    except (StorageError, OSError):
        return None


def cluster_status(data_dir: Path) -> dict:
    """The JSON of ``kcli cluster status -o json`` (field names are a contract)."""
    cluster = Cluster(data_dir)
    state = cluster.load()
    image = _image(cluster, state)
    registered = {b["id"]: b for b in image.get("brokers", [])}
    controller = state["processes"].get(CONTROLLER) or {}
    brokers = [
        {
            "id": 0,
            "host": HOST,
            "port": state["controller_port"],
            "state": process_state(controller),
            "pid": controller.get("pid"),
            "controller": True,
        }
    ]
    for broker_id in cluster.broker_ids(state):
        entry = state["processes"].get(str(broker_id)) or {}
        reg = registered.get(broker_id, {})
        brokers.append(
            {
                "id": broker_id,
                "host": HOST,
                "port": state["port"] + broker_id - 1,
                "state": process_state(entry),
                "pid": entry.get("pid"),
                "controller": False,
                "fenced": reg.get("fenced", True),
            }
        )
    checkpoints = {b: _checkpoint(broker_dir(data_dir, b)) for b in cluster.broker_ids(state)}
    partitions = []
    for p in image.get("partitions", []):
        tp = (p["topic"], p["partition"])
        leos = {}
        for r in p["replicas"]:
            leo = _log_end_offset(broker_dir(data_dir, r), *tp)
            if leo is not None:
                leos[str(r)] = leo
        if p["leader"] >= 0:
            hw = checkpoints.get(p["leader"], {}).get(tp, 0)
        else:
            hw = max((checkpoints.get(r, {}).get(tp, 0) for r in p["replicas"]), default=0)
        partitions.append(
            {
                "topic": p["topic"],
                "partition": p["partition"],
                "leader": p["leader"],
                "leader_epoch": p["leader_epoch"],
                "replicas": p["replicas"],
                "isr": p["isr"],
                "high_watermark": hw,
                "log_end_offsets": leos,
            }
        )
    return {"brokers": brokers, "partitions": partitions}
