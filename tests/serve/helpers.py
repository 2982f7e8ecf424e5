"""Helpers for kcli serve tests: the server as a subprocess, a raw protocol client, polling."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
_BOOTSTRAP = re.compile(r"bootstrap\.servers=(\S+)")
_LISTENING = re.compile(r"listening on (\S+):(\d+),")

# Settings that keep group tests short: no initial rebalance delay.
FAST_GROUPS = ("group.initial.rebalance.delay.ms=0",)


class ServeProcess:
    """`kcli --data-dir D serve --port 0 ...` as a subprocess; stderr goes to a file."""

    def __init__(self, data_dir: Path, log_path: Path, config: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.log_path = log_path
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.bootstrap = ""
        self.host = ""
        self.port = 0
        self.stdout_lines: list[str] = []
        self.listen_port = 0  # differs from port when advertised.listeners is set
        self._ready = threading.Event()

    def start(self) -> ServeProcess:
        args = [
            sys.executable,
            "-m",
            "kcli",
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--port",
            "0",
        ]
        for item in self.config:
            args += ["--config", item]
        env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
        env["PYTHONUNBUFFERED"] = "1"
        self._ready.clear()
        self.stdout_lines = []
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            self.proc.kill()
            raise AssertionError(f"kcli serve did not start:\n{self.log()}")
        if self.proc.poll() is not None and not self.bootstrap:
            raise AssertionError(f"kcli serve exited at start:\n{self.log()}")
        return self

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            listening = _LISTENING.search(line)
            if listening:
                self.listen_port = int(listening.group(2))
            match = _BOOTSTRAP.search(line)
            if match and not self._ready.is_set():
                self.bootstrap = match.group(1)
                host, _, port = self.bootstrap.rpartition(":")
                self.host, self.port = host, int(port)
                self._ready.set()
        self._ready.set()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"kcli serve did not stop on signal {sig}:\n{self.log()}"
            ) from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


class RawClient:
    """A bare socket speaking Kafka's framing, with kafka-python's codec for bodies."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, request_cls, version: int, client_id: str = "raw-test", **fields):
        """Send one request; return (correlation id, response body bytes after the header)."""
        self.correlation_id += 1
        message = request_cls[version](**fields)
        message.with_header(correlation_id=self.correlation_id, client_id=client_id)
        self.sock.sendall(message.encode(header=True, framed=True))
        return self.read_response()

    def call(self, request_cls, response_cls, version: int, **fields):
        """Send a request and decode its response at the same version."""
        correlation_id, body = self.request(request_cls, version, **fields)
        assert correlation_id == self.correlation_id
        flexible = response_cls.flexible_version_q(version) and response_cls.API_KEY != 18
        return response_cls.decode(body[1:] if flexible else body, version=version)

    def read_response(self) -> tuple[int, bytes]:
        size = struct.unpack(">i", self.read_exactly(4))[0]
        payload = self.read_exactly(size)
        return struct.unpack(">i", payload[:4])[0], payload[4:]

    def read_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("closed by the server")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def closed_by_server(self, timeout: float = 30.0) -> bool:
        """True once the server has closed this connection (reads return EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def read_frames(stream: bytes) -> list[bytes]:
    """Split a client's byte stream into request frames (length prefixes included)."""
    frames = []
    pos = 0
    while pos + 4 <= len(stream):
        size = struct.unpack_from(">i", stream, pos)[0]
        if size < 0 or pos + 4 + size > len(stream):
            break
        frames.append(stream[pos : pos + 4 + size])
        pos += 4 + size
    return frames


class CaptureProxy:
    """A TCP proxy in front of kcli serve that records what clients send.

    The server must advertise the proxy's address (advertised.listeners) so that clients
    keep talking through it after their first Metadata response.
    """

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream_port = 0
        self.streams: list[bytearray] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def frames(self) -> list[bytes]:
        with self._lock:
            return [f for s in self.streams for f in read_frames(bytes(s))]

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            record = bytearray()
            with self._lock:
                self.streams.append(record)
            threading.Thread(
                target=self._pump, args=(client, upstream, record), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    with self._lock:
                        record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


MEMBER = Path(__file__).with_name("group_member.py")


class Member:
    """One group_member.py process and what it has printed."""

    def __init__(
        self,
        client: str,
        bootstrap: str,
        topic: str,
        group: str,
        client_id: str,
        instance_id: str | None = None,
    ):
        env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
        if instance_id is not None:
            env["GROUP_INSTANCE_ID"] = instance_id
        self.client_id = client_id
        self.proc = subprocess.Popen(
            [sys.executable, str(MEMBER), client, bootstrap, topic, group, client_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.assignments: list[list[int]] = []
        self.values: list[str] = []
        self.fatal: str | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            if "assigned" in event:
                self.assignments.append(event["assigned"])
            elif "fatal" in event:
                self.fatal = event["fatal"]
            else:
                self.values.append(event["v"])

    @property
    def assignment(self) -> list[int] | None:
        return self.assignments[-1] if self.assignments else None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def split_evenly(a: Member, b: Member, partitions: int = 4) -> bool:
    """Whether two members own half of ``partitions`` partitions each, all of them."""
    return (
        a.assignment is not None
        and b.assignment is not None
        and len(a.assignment) == partitions // 2
        and sorted(a.assignment + b.assignment) == list(range(partitions))
    )
