"""A ``kcli cluster`` in a temporary data directory, driven through the real command line
(subprocesses), for the tests and ``benchmarks/soak_cluster.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kcli.cluster.launcher import free_port_range

# Short timeouts, so that failures are noticed in seconds rather than Kafka's defaults.
FAST = (
    "broker.session.timeout.ms=2000",
    "broker.heartbeat.interval.ms=250",
    "replica.lag.time.max.ms=1500",
    "replica.fetch.wait.max.ms=100",
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=3",
)


class LocalCluster:
    """``kcli --data-dir D cluster ...`` as subprocesses."""

    def __init__(self, root: Path, brokers: int = 3, config: tuple[str, ...] = FAST):
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.brokers = brokers
        self.config = config
        self.port = free_port_range(brokers)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KCLI_")}
        self.env["KCLI_CONFIG"] = str(self.root / "config.toml")
        self.env["PYTHONUNBUFFERED"] = "1"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + i}" for i in range(self.brokers))

    def address(self, broker_id: int) -> str:
        return f"127.0.0.1:{self.port + broker_id - 1}"

    def kcli(self, *args: str, check: bool = True, timeout: float = 120, data_dir: bool = True):
        cmd = [sys.executable, "-m", "kcli"]
        if data_dir:
            cmd += ["--data-dir", str(self.data_dir)]
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kcli {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
                f"\n{self.logs()}"
            )
        return proc

    def start(self, *extra: str):
        for _attempt in range(5):
            args = ["cluster", "start", "--brokers", str(self.brokers), "--port", str(self.port)]
            for item in (*self.config, *extra):
                args += ["--config", item]
            proc = self.kcli(*args, check=False)
            fresh = not (self.data_dir / "cluster" / "cluster.json").exists()
            if proc.returncode != 0 and fresh and "already in use" in proc.stderr:
                # Another process took one of the ports since they were found free: pick again.
                self.port = free_port_range(self.brokers)
                continue
            break
        if proc.returncode != 0:
            raise AssertionError(f"kcli cluster start failed:\n{proc.stderr}\n{self.logs()}")
        return proc

    def status(self) -> dict:
        """``kcli cluster status -o json``'s data, read in this process (the command itself is
        tested in test_cluster_cli.py; polling it through a new process each time is slow)."""
        from kcli.cluster.status import cluster_status

        return cluster_status(self.data_dir)

    def status_command(self) -> dict:
        return json.loads(self.kcli("cluster", "status", "-o", "json").stdout)

    def kill(self, node: int | str) -> None:
        from kcli.cluster.launcher import Cluster

        Cluster(self.data_dir).kill(str(node))

    def restart(self, node: int | str) -> None:
        from kcli.cluster.launcher import Cluster

        Cluster(self.data_dir).restart(str(node))

    def partition(self, topic: str, partition: int) -> dict:
        for p in self.status()["partitions"]:
            if p["topic"] == topic and p["partition"] == partition:
                return p
        raise KeyError((topic, partition))

    def wait_for(self, predicate, timeout_s: float = 30.0, what: str = "the cluster"):
        """Poll ``predicate(status)`` until it is true; its last truthy value."""
        deadline = time.monotonic() + timeout_s
        status = None
        while time.monotonic() < deadline:
            status = self.status()
            value = predicate(status)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status: {status}\n{self.logs()}")

    def wait_partition(self, topic: str, partition: int, predicate, timeout_s: float = 30.0):
        def check(status):
            for p in status["partitions"]:
                if p["topic"] == topic and p["partition"] == partition and predicate(p):
                    return p
            return None

        return self.wait_for(check, timeout_s, f"{topic}-{partition}")

    def create_topic(self, name: str, partitions: int, replication_factor: int, *config: str):
        args = ["--bootstrap-server", self.bootstrap, "topic", "create", name]
        args += ["--partitions", str(partitions), "--replication-factor", str(replication_factor)]
        for item in config:
            args += ["--config", item]
        self.kcli(*args, data_dir=False)

    def logs(self, lines: int = 30) -> str:
        out = []
        directory = self.data_dir / "cluster"
        for path in sorted(directory.glob("*.log")) if directory.exists() else []:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def delete(self) -> None:
        if (self.data_dir / "cluster" / "cluster.json").exists():
            self.kcli("cluster", "delete", "--yes", check=False)

    def replica_bytes(self, broker_id: int, topic: str, partition: int, upto: int) -> bytes:
        """The batches of one replica's log below offset ``upto``, read from its files."""
        from storage import Store

        store = Store(self.data_dir / "cluster" / f"broker-{broker_id}", create=False)
        log = store.log(topic, partition)
        out = bytearray()
        offset = log.log_start_offset
        while offset < upto:
            data = log.read(offset, 1 << 20).records
            if not data:
                break
            pos = 0
            while pos + 61 <= len(data):
                base = int.from_bytes(data[pos : pos + 8], "big", signed=True)
                size = int.from_bytes(data[pos + 8 : pos + 12], "big") + 12
                last = base + int.from_bytes(data[pos + 23 : pos + 27], "big")
                if base >= upto:
                    offset = upto
                    break
                out += data[pos : pos + size]
                pos += size
                offset = last + 1
        store.close()
        return bytes(out)
