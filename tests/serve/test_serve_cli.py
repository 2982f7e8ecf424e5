"""`kcli serve` as a command: options, errors, the live view, clean and unclean stops."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from confluent_kafka import Producer as CkProducer
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse

from kcli.errors import KcliError
from kcli.serve.config import broker_config
from storage import Store
from tests.waiting import wait_for

from .helpers import RawClient


def _kcli(data_dir, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_non_loopback_address_needs_allow_remote(tmp_path):
    result = _kcli(tmp_path, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert "--allow-remote" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_allow_remote_warns_that_there_is_no_authentication(serve_factory, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kcli",
            "--data-dir",
            str(tmp_path),
            "serve",
            "--host",
            "0.0.0.0",
            "--allow-remote",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on 0.0.0.0:" in line
        port = int(line.split("0.0.0.0:")[1].split(",")[0])
        client = RawClient("127.0.0.1", port)
        assert client.call(ApiVersionsRequest, ApiVersionsResponse, 0).error_code == 0
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "Warning: listening on 0.0.0.0" in err and "no authentication" in err


def test_port_in_use_and_bad_configs_are_one_line_errors(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _kcli(tmp_path, "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: port {port} on 127.0.0.1 is already in use (is a Kafka broker or another "
        f"kcli serve running?); choose another with --port\n"
    )
    result = _kcli(tmp_path, "serve", "--port", "0", "--config", "num.partitions=zero")
    assert result.returncode == 1
    assert "invalid value 'zero' for broker config num.partitions" in result.stderr
    result = _kcli(tmp_path, "serve", "--port", "0", "--config", "group.consumer.assignors=sticky")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: invalid value 'sticky' for broker config group.consumer.assignors: must list "
        "server assignors among uniform, range, comma-separated (not sticky)\n"
    )
    result = _kcli(tmp_path, "serve", "--port", "0", "--config", "num.partitions")
    assert result.returncode == 2
    assert "is not KEY=VALUE" in result.stderr


def _produce_until_stopped(server, stop_with: int):
    """Produce keyed records until the server goes away; return the acknowledged ones."""
    acked: list[tuple[int, int, bytes]] = []
    errors: list[str] = []

    def report(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            errors.append(str(err))

    producer = CkProducer(
        {
            "bootstrap.servers": server.bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 2,
            "message.timeout.ms": 5000,
            "enable.idempotence": True,
        }
    )
    i = 0
    stopped = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            producer.produce(
                "durable", key=b"k%d" % (i % 50), value=b"value-%d" % i, on_delivery=report
            )
            i += 1
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
        if not stopped and len(acked) >= 2000:
            server.proc.send_signal(stop_with)
            stopped = True
        if stopped and server.proc.poll() is not None:
            break
    # Whatever was not acknowledged by now never will be: fail it at once.
    producer.purge()
    producer.flush(5)
    return acked


def _check_acknowledged_are_on_disk(data_dir, acked):
    store = Store(data_dir)
    for p in range(store.topic("durable").partitions):
        store.log("durable", p).recover()
    on_disk = {
        (p, r.offset): bytes(r.value)
        for p in range(store.topic("durable").partitions)
        for r in store.log("durable", p).read_records(0)
    }
    missing = [(p, o, v) for p, o, v in acked if on_disk.get((p, o)) != v]
    assert not missing, f"{len(missing)} acknowledged records are not on disk: {missing[:5]}"


def test_sigterm_stops_cleanly_with_every_acknowledged_record_on_disk(serve_factory):
    server = serve_factory("num.partitions=3")
    acked = _produce_until_stopped(server, signal.SIGTERM)
    assert server.proc.wait(60) == 0
    assert any("every acknowledged record is on disk" in line for line in server.stdout_lines)
    assert len(acked) >= 2000
    _check_acknowledged_are_on_disk(server.data_dir, acked)


def test_sigkill_loses_no_acknowledged_record(serve_factory):
    server = serve_factory("num.partitions=3")
    acked = _produce_until_stopped(server, signal.SIGKILL)
    assert server.proc.wait(60) == -signal.SIGKILL
    _check_acknowledged_are_on_disk(server.data_dir, acked)


def test_live_view_on_a_terminal_and_ctrl_c(tmp_path):
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    env.update(COLUMNS="160", LINES="40", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcli", "--data-dir", str(tmp_path), "serve", "--port", "0"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    screen = bytearray()

    def read_more() -> str:
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen.extend(chunk)
        return screen.decode("utf-8", "replace")

    try:
        text = wait_for(lambda: "bootstrap.servers=" in read_more() and read_more(), what="banner")
        port = int(text.split("bootstrap.servers=127.0.0.1:")[1].split()[0])
        client = RawClient("127.0.0.1", port)
        client.call(
            ApiVersionsRequest,
            ApiVersionsResponse,
            3,
            client_software_name="live-test",
            client_software_version="7.7",
        )
        # The table redraws in place and shows the connection with its client software.
        wait_for(lambda: "live-test 7.7" in read_more(), what="the connection in the table")
        assert "Connections" in read_more()
        client.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        wait_for(lambda: "kcli serve stopped" in read_more(), what="the closing line")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_broker_configs_are_checked_by_name_and_value():
    with pytest.raises(KcliError, match="unknown broker config 'num.partition'; valid keys are: "):
        broker_config({"num.partition": "3"})
    with pytest.raises(KcliError, match="advertised.listeners: must be one listener like"):
        broker_config({"advertised.listeners": "http://x:1"})
    config = broker_config(
        {
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "advertised.listeners": "PLAINTEXT://kafka.local:19092",
        }
    )
    assert (config.num_partitions, config.auto_create_topics_enable) == (3, False)
    assert config.advertised_address() == ("kafka.local", 19092)
