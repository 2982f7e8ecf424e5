"""What small hostile inputs cost `kcli serve`, and what other clients see meanwhile.

    python benchmarks/bench_serve_limits.py [--metadata-mb 6] [--name-bytes 200] [--idle 1000]
                                            [--wait-s 15]

Two measurements, each against a fresh server:

* **A large Metadata request**: one request naming many topics (``--metadata-mb`` of names).
  Prints the time until the server answers or closes, its resident memory before and at the
  peak (VmHWM), and the slowest answer another connection got to ApiVersions pings sent every
  10 ms meanwhile (the baseline: the slowest ping before the request).
* **Idle connections**: ``--idle`` connections that never send a byte, then a new client
  connecting every 0.5 s: prints how long until a new client is first served (or that none was
  within ``--wait-s``).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_LISTENING = re.compile(r"bootstrap\.servers=(\S+)")


def start_server(data_dir: Path, *config: str) -> tuple[subprocess.Popen, str, int]:
    args = [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "serve", "--port", "0"]
    for item in config:
        args += ["--config", item]
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    for line in proc.stdout:
        match = _LISTENING.search(line)
        if match:
            host, _, port = match.group(1).rpartition(":")
            return proc, host, int(port)
    raise SystemExit("kcli serve did not start")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, 5) + b"bench"
    return struct.pack(">i", len(header) + len(body)) + header + body


def api_versions_ping(host: str, port: int, timeout: float = 30.0) -> float | None:
    """Seconds for a new connection's ApiVersions v0 answer; None if refused or closed."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(frame(18, 0, 1, b""))
            head = s.recv(4)
            if len(head) < 4:
                return None
            return time.monotonic() - start
    except OSError:
        return None


def metadata_flood(host: str, port: int, pid: int, megabytes: float, name_len: int) -> None:
    count = int(megabytes * 1_000_000 / (name_len + 2))
    names = b"".join(
        struct.pack(">h", name_len) + (b"t%09d" % i).ljust(name_len, b"x")[:name_len]
        for i in range(count)
    )
    # Metadata v4: array of names, allow_auto_topic_creation false (nothing is created).
    body = struct.pack(">i", count) + names + b"\x00"
    stop = threading.Event()
    slowest = [0.0]
    baseline = [0.0]

    def pinger(target):
        with socket.create_connection((host, port), timeout=60) as s:
            n = 0
            while not stop.is_set():
                n += 1
                t0 = time.monotonic()
                s.sendall(frame(18, 0, n, b""))
                size = struct.unpack(">i", s.recv(4))[0]
                while size:
                    size -= len(s.recv(size))
                target[0] = max(target[0], time.monotonic() - t0)
                time.sleep(0.01)

    t = threading.Thread(target=pinger, args=(baseline,))
    t.start()
    time.sleep(1.0)
    stop.set()
    t.join()
    stop.clear()
    rss_before = rss_kib(pid)
    t = threading.Thread(target=pinger, args=(slowest,))
    t.start()
    start = time.monotonic()
    outcome = "answered"
    with socket.create_connection((host, port), timeout=120) as s:
        s.sendall(frame(3, 4, 1, body))
        try:
            head = s.recv(4)
            if len(head) < 4:
                outcome = "closed the connection"
            else:
                size = struct.unpack(">i", head)[0]
                got = 0
                while got < size:
                    chunk = s.recv(min(1 << 20, size - got))
                    if not chunk:
                        break
                    got += len(chunk)
                outcome = f"answered ({size} bytes)"
        except ConnectionResetError:
            outcome = "closed the connection"
    elapsed = time.monotonic() - start
    time.sleep(0.3)
    stop.set()
    t.join()
    print(f"metadata request: {len(body) / 1e6:.1f} MB naming {count} topics")
    print(f"  server {outcome} after {elapsed:.2f} s")
    print(
        f"  server memory: {rss_before / 1024:.0f} MB before, {rss_kib(pid, 'VmHWM') / 1024:.0f} MB peak"
    )
    print(
        f"  slowest ApiVersions answer to another client: {slowest[0]:.3f} s (before: {baseline[0]:.3f} s)"
    )


def idle_flood(host: str, port: int, idle: int, wait_s: float) -> None:
    sockets = []
    for _ in range(idle):
        try:
            sockets.append(socket.create_connection((host, port), timeout=10))
        except OSError:
            break
    time.sleep(0.5)
    start = time.monotonic()
    served_after = None
    attempts = 0
    while time.monotonic() - start < wait_s:
        attempts += 1
        if api_versions_ping(host, port, timeout=5) is not None:
            served_after = time.monotonic() - start
            break
        time.sleep(0.5)
    print(f"idle connections: {len(sockets)} opened, never sending a byte")
    if served_after is None:
        print(f"  no new client was served within {wait_s:.0f} s ({attempts} attempts)")
    else:
        print(f"  a new client was served after {served_after:.2f} s ({attempts} attempt(s))")
    for s in sockets:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metadata-mb", type=float, default=6.0)
    parser.add_argument("--name-bytes", type=int, default=200)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--wait-s", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
        proc, host, port = start_server(Path(d) / "a")
        try:
            metadata_flood(host, port, proc.pid, args.metadata_mb, args.name_bytes)
        finally:
            proc.terminate()
            proc.wait(60)
        proc, host, port = start_server(Path(d) / "b")
        try:
            idle_flood(host, port, args.idle, args.wait_s)
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
