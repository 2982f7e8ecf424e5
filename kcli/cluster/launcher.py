"""Starting, stopping, killing, pausing and deleting the processes of ``kcli cluster``.

Everything lives under ``<data-dir>/cluster/``::

    cluster.json            brokers, ports, configs, and each process's pid (what state we
                            put it in: running, stopped, killed, paused)
    controller/             metadata.log (the cluster metadata), controller.json (its port)
    broker-1/ ...           each broker's log directory, in Kafka's layout
    broker-1.log ...        each process's own log (controller.log too)

Processes are started in their own session, so they outlive the ``kcli cluster start`` that
started them; a process is recognised by its pid and its start time, so a pid the system has
reused is never mistaken for a broker.

``kcli.cluster.config`` (pydantic) is imported only by the verbs that read configs: ``kcli
cluster status`` runs often, in watch loops and tests, and needs none of it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kcli.cluster import rpc
from kcli.cluster.constants import (
    CONTROLLER_PORT_FILE,
    DEFAULT_BROKERS,
    DEFAULT_PORT,
    HOST,
    MAX_BROKERS,
)
from kcli.errors import KcliError
from storage.errors import StorageError
from storage.fileio import atomic_write
from storage.meta_properties import new_cluster_id, read_meta_properties

CLUSTER_DIR = "cluster"
STATE_FILE = "cluster.json"
CONTROLLER = "controller"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0

RUNNING, STOPPED, KILLED, PAUSED = "running", "stopped", "killed", "paused"


def cluster_dir(data_dir: Path) -> Path:
    return Path(data_dir) / CLUSTER_DIR


def broker_dir(data_dir: Path, broker_id: int) -> Path:
    return cluster_dir(data_dir) / f"broker-{broker_id}"


@dataclass
class ClusterStarted:
    """What ``start`` reports."""

    brokers: int
    port: int
    controller_port: int
    directory: Path
    bootstrap_servers: str
    replication_factor: int
    replication_factor_is_default: bool
    profile_file: Path | None
    started: list[str]


# -- processes ---------------------------------------------------------------------------


def _proc_start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def process_state(entry: dict | None) -> str:
    """running / paused / stopped / killed, from a process entry of cluster.json."""
    if not entry or not entry.get("pid"):
        return STOPPED
    pid = entry["pid"]
    start = _proc_start_time(pid)
    if start is None or start != entry.get("start_time"):
        return STOPPED if entry.get("expected") == STOPPED else KILLED
    return PAUSED if _proc_state(pid) in ("T", "t") else RUNNING


def _alive(entry: dict | None) -> bool:
    return process_state(entry) in (RUNNING, PAUSED)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def free_port_range(count: int) -> int:
    """A first port P such that P..P+count-1 are free on 127.0.0.1 right now (another process
    may still take one before a cluster starts on them: ``start`` then says so)."""
    for _ in range(200):
        # Below Linux's ephemeral ports (32768 and up), which the controller's port and every
        # client connection take: none of those can land in the range before a broker binds it.
        base = random.randint(20_000, 32_000 - count)
        if all(_port_free(port) for port in range(base, base + count)):
            return base
    raise KcliError(f"no {count} consecutive free ports found on {HOST}")


# -- the state file ----------------------------------------------------------------------


class Cluster:
    """The cluster in one data directory."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.directory = cluster_dir(self.data_dir)
        self.state_path = self.directory / STATE_FILE

    def exists(self) -> bool:
        return self.state_path.exists()

    def load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            raise KcliError(
                f"there is no cluster in {self.data_dir}; start one with kcli cluster start"
            ) from None

    def save(self, state: dict) -> None:
        atomic_write(self.state_path, (json.dumps(state, indent=2) + "\n").encode())

    def bootstrap_servers(self, state: dict) -> str:
        return ",".join(f"{HOST}:{state['port'] + i}" for i in range(state["brokers"]))

    def broker_ids(self, state: dict) -> list[int]:
        return list(range(1, state["brokers"] + 1))

    def controller_port(self, state: dict) -> int:
        return state["controller_port"]

    def call(self, api: str, timeout_s: float = 10.0, **fields) -> dict:
        """A request to the controller; KcliError when it cannot be reached."""
        state = self.load()
        if not _alive(state["processes"].get(CONTROLLER)):
            raise KcliError(
                "the controller is not running; start it with kcli cluster restart controller"
            )
        try:
            return rpc.call(HOST, state["controller_port"], api, timeout_s=timeout_s, **fields)
        except rpc.ControllerUnavailable as exc:
            raise KcliError(f"the controller does not answer: {exc}") from None

    # -- start --------------------------------------------------------------------------

    def start(
        self,
        brokers: int | None,
        port: int | None,
        overrides: dict[str, str],
        *,
        write_profile: bool = True,
    ) -> ClusterStarted:
        """Start what is not running; ``write_profile`` also points the ``cluster`` profile of
        kcli's config file at it (not for a throwaway cluster, such as a demo's)."""
        if self.exists():
            state = self.load()
            if brokers is not None and brokers != state["brokers"]:
                raise KcliError(
                    f"the cluster in {self.data_dir} has {state['brokers']} brokers; delete it "
                    f"first (kcli cluster delete --yes) to start one with {brokers}"
                )
            if port is not None and port != state["port"]:
                raise KcliError(
                    f"the cluster in {self.data_dir} uses ports from {state['port']}; delete it "
                    f"first (kcli cluster delete --yes) to use --port {port}"
                )
            if overrides:
                from kcli.cluster.config import split_config

                cluster, serve = split_config(overrides)
                state["config"].update(cluster)
                state["serve_config"].update(serve)
        else:
            brokers = DEFAULT_BROKERS if brokers is None else brokers
            if not 1 <= brokers <= MAX_BROKERS:
                raise KcliError(f"--brokers must be 1 to {MAX_BROKERS}; got {brokers}")
            port = DEFAULT_PORT if port is None else port
            if not 1 <= port or port + brokers - 1 > 65535:
                raise KcliError(
                    f"--port {port}: the brokers need ports {port}..{port + brokers - 1}"
                )
            from kcli.cluster.config import split_config

            cluster, serve = split_config(overrides)
            state = {
                "cluster_id": new_cluster_id(),
                "brokers": brokers,
                "port": port,
                "controller_port": 0,
                "config": cluster,
                "serve_config": serve,
                "processes": {},
            }
        if "cluster_id" not in state:
            state["cluster_id"] = self._existing_cluster_id(state)
        started = self._start_processes(state, self._wanted(state))
        return self._started(state, started, write_profile)

    def _existing_cluster_id(self, state: dict) -> str:
        """The id of a cluster made before cluster.json kept one: its first broker's."""
        for broker_id in self.broker_ids(state):
            try:
                found = read_meta_properties(broker_dir(self.data_dir, broker_id))
            except StorageError:
                continue
            if found.get("cluster.id"):
                return found["cluster.id"]
        return new_cluster_id()

    def _wanted(self, state: dict) -> list[str]:
        return [CONTROLLER] + [str(b) for b in self.broker_ids(state)]

    def _started(self, state: dict, started: list[str], write_profile: bool) -> ClusterStarted:
        from kcli.cluster.config import cluster_config
        from kcli.cluster.profile import write_cluster_profile

        config = cluster_config(state["config"])
        bootstrap = self.bootstrap_servers(state)
        return ClusterStarted(
            brokers=state["brokers"],
            port=state["port"],
            controller_port=state["controller_port"],
            directory=self.directory,
            bootstrap_servers=bootstrap,
            replication_factor=config.replication_factor(state["brokers"]),
            replication_factor_is_default=not config.default_replication_factor,
            profile_file=write_cluster_profile(bootstrap) if write_profile else None,
            started=started,
        )

    def _start_processes(self, state: dict, names: list[str]) -> list[str]:
        """Start the named processes that are not running; wait until brokers are ready."""
        processes = state["processes"]
        todo = [n for n in names if not _alive(processes.get(n))]
        for name in todo:
            port = self._port_of(state, name)
            if port and not _port_free(port):
                raise KcliError(
                    f"port {port} on {HOST} is already in use (another cluster, kcli serve or "
                    f"Kafka?); choose other ports with kcli cluster start --port P"
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        incarnations = {}
        if CONTROLLER in todo:
            if not state["controller_port"] or not _port_free(state["controller_port"]):
                state["controller_port"] = _free_port()
            processes[CONTROLLER] = self._spawn(
                CONTROLLER,
                [
                    "kcli.cluster.controller",
                    str(self.directory / CONTROLLER),
                    "--brokers",
                    str(state["brokers"]),
                    "--port",
                    str(state["controller_port"]),
                    *_config_args("--config", state["config"]),
                ],
            )
            self.save(state)
            self._wait_for_controller(state)
        for name in todo:
            if name == CONTROLLER:
                continue
            broker_id = int(name)
            incarnation = uuid.uuid4().hex
            incarnations[broker_id] = incarnation
            processes[name] = self._spawn(
                f"broker-{broker_id}", self.broker_args(state, broker_id, incarnation)
            )
        self.save(state)
        if incarnations:
            self._wait_for_brokers(state, incarnations)
        return todo

    def broker_args(self, state: dict, broker_id: int, incarnation: str) -> list[str]:
        """The command line of broker ``broker_id``'s process (``python -m`` ...)."""
        return [
            "kcli.cluster.broker",
            str(broker_dir(self.data_dir, broker_id)),
            "--id",
            str(broker_id),
            "--port",
            str(state["port"] + broker_id - 1),
            "--controller-port",
            str(state["controller_port"]),
            "--brokers",
            str(state["brokers"]),
            "--incarnation-id",
            incarnation,
            # One argument: an id may start with "-" (URL-safe base64).
            f"--cluster-id={state['cluster_id']}",
            *_config_args("--config", state["config"]),
            *_config_args("--serve-config", state["serve_config"]),
        ]

    def _port_of(self, state: dict, name: str) -> int | None:
        if name == CONTROLLER:
            return None
        return state["port"] + int(name) - 1

    def _spawn(self, label: str, args: list[str]) -> dict:
        log_path = self.directory / f"{label}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("KCLI_DATA_DIR",)}
        env["PYTHONUNBUFFERED"] = "1"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        start = None
        for _ in range(100):
            start = _proc_start_time(proc.pid)
            if start is not None:
                break
            time.sleep(0.01)
        return {"pid": proc.pid, "start_time": start, "expected": RUNNING}

    def _wait_for_controller(self, state: dict) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        path = self.directory / CONTROLLER / CONTROLLER_PORT_FILE
        while time.monotonic() < deadline:
            entry = state["processes"][CONTROLLER]
            if not _alive(entry):
                raise KcliError(
                    f"the controller exited at start; see {self.directory / 'controller.log'}"
                )
            try:
                info = json.loads(path.read_text())
                if info["pid"] == entry["pid"]:
                    return
            except (FileNotFoundError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise KcliError(f"the controller did not start; see {self.directory / 'controller.log'}")

    def _wait_for_brokers(self, state: dict, incarnations: dict[int, str]) -> None:
        """Until every broker started has registered with this incarnation and is unfenced."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = dict(incarnations)
        while time.monotonic() < deadline:
            for broker_id in list(waiting):
                if not _alive(state["processes"][str(broker_id)]):
                    raise KcliError(
                        f"broker {broker_id} exited at start; see "
                        f"{self.directory / f'broker-{broker_id}.log'}"
                    )
            try:
                image = rpc.call(HOST, state["controller_port"], "DescribeCluster", timeout_s=5)
            except rpc.ControllerUnavailable:
                image = {"brokers": []}
            for b in image["brokers"]:
                if (
                    b["id"] in waiting
                    and b.get("incarnation_id") == waiting[b["id"]]
                    and not b["fenced"]
                ):
                    del waiting[b["id"]]
            if not waiting:
                return
            time.sleep(0.1)
        ids = ", ".join(str(b) for b in sorted(waiting))
        raise KcliError(
            f"broker(s) {ids} did not become ready within {READY_TIMEOUT_S:.0f} s; see the "
            f"broker-N.log files in {self.directory}"
        )

    # -- one process at a time ------------------------------------------------------------

    def _entry(self, state: dict, name: str) -> dict:
        if name != CONTROLLER and (not name.isdigit() or int(name) not in self.broker_ids(state)):
            raise KcliError(
                f"no broker {name}: the brokers are 1..{state['brokers']} (or 'controller')"
            )
        return state["processes"].get(name) or {}

    def kill(self, name: str) -> None:
        state = self.load()
        entry = self._entry(state, name)
        if not _alive(entry):
            raise KcliError(f"{_label(name)} is not running ({process_state(entry)})")
        os.kill(entry["pid"], signal.SIGKILL)
        entry["expected"] = KILLED
        self.save(state)
        _wait_gone(entry, 10.0)

    def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP, RUNNING, PAUSED)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT, PAUSED, RUNNING)

    def _signal(self, name: str, sig: int, required: str, becomes: str) -> None:
        """Send ``sig`` to a node in state ``required``, which is then ``becomes``."""
        state = self.load()
        entry = self._entry(state, name)
        if process_state(entry) != required:
            raise KcliError(f"{_label(name)} is not {required} ({process_state(entry)})")
        os.kill(entry["pid"], sig)
        entry["expected"] = becomes
        self.save(state)

    def restart(self, name: str) -> list[str]:
        state = self.load()
        entry = self._entry(state, name)
        if _alive(entry):
            raise KcliError(f"{_label(name)} is already {process_state(entry)}")
        return self._start_processes(state, [name])

    def stop(self, name: str | None) -> list[str]:
        """Controlled shutdown of one broker, or of the whole cluster (brokers, then the
        controller)."""
        state = self.load()
        if name is not None:
            names = [name]
            self._entry(state, name)
        else:
            names = [str(b) for b in self.broker_ids(state)] + [CONTROLLER]
        stopped = []
        for n in names:
            entry = state["processes"].get(n) or {}
            if process_state(entry) == PAUSED:
                os.kill(entry["pid"], signal.SIGCONT)
            if _alive(entry):
                os.kill(entry["pid"], signal.SIGTERM)
                if not _wait_gone(entry, STOP_TIMEOUT_S):
                    os.kill(entry["pid"], signal.SIGKILL)
                    _wait_gone(entry, 10.0)
                stopped.append(n)
            if entry:
                entry["expected"] = STOPPED
        self.save(state)
        return stopped

    def delete(self) -> None:
        state = self.load()
        for entry in state["processes"].values():
            if _alive(entry):
                os.kill(entry["pid"], signal.SIGKILL)
                _wait_gone(entry, 10.0)
        shutil.rmtree(self.directory)


def _label(name: str) -> str:
    return "the controller" if name == CONTROLLER else f"broker {name}"


def _wait_gone(entry: dict, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _proc_start_time(entry["pid"]) != entry.get("start_time"):
            return True
        try:
            os.waitpid(entry["pid"], os.WNOHANG)  # our own child (a test's): reap it
        except ChildProcessError:
            pass
        time.sleep(0.02)
    return False


def _config_args(flag: str, config: dict[str, str]) -> list[str]:
    out = []
    for key, value in config.items():
        out += [flag, f"{key}={value}"]
    return out
