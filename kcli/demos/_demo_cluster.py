"""A throwaway ``kcli cluster`` for a demo: its own temporary directory, free ports, and always
deleted at the end, on an error and on Ctrl-C.

The user's store, config file and any cluster of theirs are never touched: the cluster lives
in a fresh temporary directory, on ports found free, and no ``cluster`` profile is written.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from kcli import AdminClient, NewTopic
from kcli.cluster.elections import elect_leaders
from kcli.cluster.launcher import Cluster, ClusterStarted, broker_dir, free_port_range
from kcli.cluster.status import cluster_status
from kcli.errors import KcliError
from kcli.render import status_view
from storage import Store

PORT_ATTEMPTS = 5
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
SNAPSHOT_MAX_AGE_S = 0.25  # the live view redraws 8 times a second; a status opens every replica


class DemoCluster:
    """A context manager: a cluster in a temporary directory, deleted on the way out."""

    def __init__(self, brokers: int, configs: dict[str, str]):
        self.brokers = brokers
        self.configs = configs
        self.directory: Path | None = None
        self.cluster: Cluster | None = None
        self.bootstrap_servers = ""
        self._lock = threading.Lock()
        self._snapshot: dict | None = None
        self._taken = 0.0

    def __enter__(self) -> DemoCluster:
        try:
            self.directory = Path(tempfile.mkdtemp(prefix="kcli-demo-cluster-"))
        except OSError as exc:
            raise KcliError(f"cannot make a temporary directory for the cluster: {exc}") from None
        self.cluster = Cluster(self.directory)
        # Killed politely (a closed terminal, kill PID): leave through the cleanup, as Ctrl-C.
        self._handlers = {sig: signal.signal(sig, _exit_on) for sig in ENDING_SIGNALS}
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        # A second Ctrl-C must not stop the cleanup half-way and leave brokers running.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in ENDING_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        try:
            self.delete()
        finally:
            signal.signal(signal.SIGINT, interrupt)
            for sig, handler in self._handlers.items():
                signal.signal(sig, handler)
        if exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            sys.stderr.write("Stopped: the demo's cluster is deleted (processes and files).\n")
            sys.stderr.flush()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> ClusterStarted:
        for _attempt in range(PORT_ATTEMPTS):
            port = free_port_range(self.brokers)
            try:
                started = self.cluster.start(
                    self.brokers, port, dict(self.configs), write_profile=False
                )
            except KcliError as exc:
                if "already in use" in str(exc) and not self.cluster.exists():
                    continue  # another process took a port since it was found free
                message = _with_log_tail(str(exc))
                raise KcliError(f"the demo's cluster did not start: {message}") from None
            self.bootstrap_servers = started.bootstrap_servers
            return started
        raise KcliError(
            f"the demo's cluster did not start: no {self.brokers} free ports stayed free"
        )

    def delete(self) -> None:
        """Kill every process of the cluster and remove its directory."""
        if self.directory is None:
            return
        try:
            if self.cluster.exists():
                self.cluster.delete()
        finally:
            _kill_stragglers(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)

    def gone(self) -> bool:
        """Whether the cluster left nothing behind: no process, no directory."""
        return not self.directory.exists() and not processes_naming(self.directory)

    def kill(self, broker_id: int) -> None:
        self.cluster.kill(str(broker_id))

    def restart(self, broker_id: int) -> None:
        self.cluster.restart(str(broker_id))

    def create_topic(self, topic: str, partitions: int, replication_factor: int) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        futures = admin.create_topics([NewTopic(topic, partitions, replication_factor)])
        try:
            for future in futures.values():
                future.result(timeout=60)
        except Exception as exc:  # confluent-kafka's KafkaException, or the 60 s timeout
            raise KcliError(f"the demo's cluster did not create topic {topic}: {exc}") from None

    def elect_preferred(self, topic: str) -> int:
        """A preferred leader election; how many partitions changed leader."""
        results = elect_leaders(self.cluster, "preferred", topic)
        return sum(1 for r in results if r["result"] == "NONE")

    # -- what it looks like -------------------------------------------------------------

    def snapshot(self, fresh: bool = False) -> dict:
        """``kcli cluster status -o json``'s data, at most a quarter of a second old."""
        with self._lock:
            now = time.monotonic()
            if fresh or self._snapshot is None or now - self._taken > SNAPSHOT_MAX_AGE_S:
                self._snapshot = cluster_status(self.directory)
                self._taken = now
            return self._snapshot

    def view(self):
        """The tables of ``kcli cluster status``, for a live view."""
        return status_view(self.snapshot())

    def wait_for(self, predicate, timeout_s: float, what: str) -> dict:
        """The first status for which ``predicate`` holds; KcliError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.snapshot(fresh=True)
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise KcliError(
                    f"the demo's cluster did not get there: waited {timeout_s:.0f} s for {what}"
                )
            time.sleep(0.1)

    def missing_records(
        self, topic: str, acked: dict[tuple[int, int], bytes], partitions: list[dict]
    ) -> int:
        """How many acknowledged records are not, with their value, at their offset in every
        replica's log (read from each broker's log directory)."""
        by_partition: dict[int, dict[int, bytes]] = {}
        for (partition, offset), value in acked.items():
            by_partition.setdefault(partition, {})[offset] = value
        missing = set()
        for p in partitions:
            expected = by_partition.get(p["partition"], {})
            for replica in p["replicas"]:
                store = Store(broker_dir(self.directory, replica), create=False)
                try:
                    found = _values(store.log(topic, p["partition"]))
                finally:
                    store.close()
                missing |= {(p["partition"], o) for o, v in expected.items() if found.get(o) != v}
        return len(missing)


def _values(log) -> dict[int, bytes]:
    out = {}
    offset = log.log_start_offset
    while True:
        records = log.read_records(offset)
        if not records:
            return out
        for record in records:
            out[record.offset] = record.value
        offset = records[-1].offset + 1


def _exit_on(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def processes_naming(directory: Path) -> list[int]:
    """The pids of the processes whose command line names ``directory`` (or a path in it):
    the cluster's brokers and controller, even one started an instant before Ctrl-C, before
    the cluster's state file recorded it."""
    mark = str(directory)
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    pids = []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.decode(errors="replace").startswith(mark) for arg in args):
            pids.append(int(entry.name))
    return pids


def _kill_stragglers(directory: Path) -> None:
    for pid in processes_naming(directory):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # the demo's own child: reap it
        except (ProcessLookupError, ChildProcessError):
            pass


def _with_log_tail(message: str) -> str:
    """The launcher's message names a process's log, which is deleted with the cluster: quote
    the log's last line instead."""
    m = re.search(r"; see (.+\.log)$", message)
    if m is None:
        return message
    try:
        lines = [
            line
            for line in Path(m.group(1)).read_text(errors="replace").splitlines()
            if line.strip()
        ]
    except OSError:
        lines = []
    head = message[: m.start()]
    return f"{head}; its log ended: {lines[-1].strip()}" if lines else f"{head} (its log is empty)"
