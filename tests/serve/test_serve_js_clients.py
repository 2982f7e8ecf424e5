"""JavaScript clients against kcli serve: kafkajs (pure JS, Kafka 2.x protocol versions) and
@platformatic/kafka (pure JS, only the recent flexible versions of Kafka 3.5-4.1).

The clients are installed from ``tests/serve/js/package-lock.json`` with ``npm ci`` into a cache
directory keyed by the lockfile, once; the scenarios are in ``tests/serve/js/scenarios.mjs``.
Without ``node`` on the machine these tests are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from storage import Store, partition_for_key
from tests.privileges import cannot_run_here

JS_DIR = Path(__file__).parent / "js"
NODE = shutil.which("node")
if NODE is None:
    cannot_run_here("node (Node.js) is not installed")
SCENARIO_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def js_modules() -> Path:
    """A directory holding node_modules installed from the lockfile (npm ci), reused."""
    lock = (JS_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (JS_DIR / "package.json").read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("KCLI_JS_CACHE", Path.home() / ".cache" / "kcli-tests" / "js"))
    target = cache / digest
    if not (target / "node_modules" / ".installed").exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(JS_DIR / name, target / name)
        npm = shutil.which("npm")
        assert npm, "npm is missing next to node; it installs the JavaScript clients"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=600,
        )
        (target / "node_modules" / ".installed").write_text(digest)
    shutil.copy(JS_DIR / "scenarios.mjs", target / "scenarios.mjs")
    return target


def run_js(modules: Path, client: str, scenario: str, bootstrap: str, topic: str, arg="") -> dict:
    proc = subprocess.run(
        [NODE, str(modules / "scenarios.mjs"), client, scenario, bootstrap, topic, str(arg)],
        cwd=modules,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
        env={**os.environ, "KAFKAJS_NO_PARTITIONER_WARNING": "1"},
    )
    assert proc.returncode == 0, f"{client} {scenario}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def js_server(shared_server):
    return shared_server


def _create(server, topic: str, partitions: int = 1) -> Store:
    store = Store(server.data_dir)
    store.create_topic(topic, partitions)
    return store


def _kcli_consume(server, topic: str) -> list[str]:
    proc = subprocess.run(
        ["kcli", "--data-dir", str(server.data_dir), "consume", topic, "--from-beginning"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


CLIENTS = ("kafkajs", "platformatic")


@pytest.mark.parametrize("client", CLIENTS)
def test_js_producer_keys_land_on_kafkas_partition(js_modules, js_server, client):
    topic = f"js-produce-{client}"
    store = _create(js_server, topic, 3)
    run_js(js_modules, client, "produce", js_server.bootstrap, topic)
    seen = {}
    for p in range(3):
        for r in store.log(topic, p).read_records(0):
            seen[r.key] = (p, r.value)
    assert len(seen) == 10
    for i in range(10):
        key = f"key-{i}".encode()
        assert seen[key] == (partition_for_key(key, 3), f"value-{i}".encode())


@pytest.mark.parametrize("client", CLIENTS)
def test_js_consumer_reads_what_kcli_wrote(js_modules, js_server, client):
    topic = f"js-consume-{client}"
    store = _create(js_server, topic)
    from storage import ProducerRecord

    store.log(topic, 0).append_records([ProducerRecord(f"v{i}".encode()) for i in range(5)])
    values = run_js(js_modules, client, "consume", js_server.bootstrap, topic, 5)["values"]
    assert [(v["offset"], v["value"]) for v in values] == [(i, f"v{i}") for i in range(5)]


@pytest.mark.parametrize("client", CLIENTS)
def test_js_two_member_group_splits_the_partitions(js_modules, js_server, client):
    topic = f"js-pair-{client}"
    store = _create(js_server, topic, 2)
    from storage import ProducerRecord

    for p in range(2):
        store.log(topic, p).append_records([ProducerRecord(f"p{p}-{i}".encode()) for i in range(3)])
    results = {}

    def member(name):
        results[name] = run_js(
            js_modules, "kafkajs", "group-member", js_server.bootstrap, topic, 3000
        )

    threads = [threading.Thread(target=member, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["assigned"][0] for r in results.values()) == [0, 1]
    read = {v["value"] for r in results.values() for v in r["values"]}
    assert read == {f"p{p}-{i}" for p in range(2) for i in range(3)}


def test_js_consumer_resets_an_out_of_range_committed_offset(js_modules, js_server):
    """kafkajs answers OFFSET_OUT_OF_RANGE by committing -2 ("earliest") and reading it back;
    kcli used to refuse that commit and the consumer crashed having read nothing."""
    topic = "js-out-of-range"
    store = _create(js_server, topic)
    from storage import ProducerRecord

    store.log(topic, 0).append_records([ProducerRecord(f"r{i}".encode()) for i in range(5)])
    values = run_js(js_modules, "kafkajs", "out-of-range", js_server.bootstrap, topic, 5)["values"]
    assert [v["value"] for v in values] == [f"r{i}" for i in range(5)]


def test_js_admin_resets_offsets_right_after_the_last_member_leaves(js_modules, js_server):
    """resetOffsets checks the group is empty: DescribeGroups must say Empty at once."""
    topic = "js-reset"
    store = _create(js_server, topic)
    from storage import ProducerRecord

    store.log(topic, 0).append_records([ProducerRecord(f"r{i}".encode()) for i in range(3)])
    result = run_js(js_modules, "kafkajs", "reset-after-leave", js_server.bootstrap, topic, 3)
    assert result == {"read": 3, "committed": [-2]}


@pytest.mark.parametrize("client", CLIENTS)
def test_js_admin_alters_a_topic_config(js_modules, js_server, client):
    # kafkajs uses AlterConfigs (API 33), @platformatic/kafka IncrementalAlterConfigs.
    topic = f"js-alter-{client}"
    store = _create(js_server, topic)
    result = run_js(js_modules, client, "alter-configs", js_server.bootstrap, topic, 3600000)
    assert result == {"value": "3600000"}
    assert store.topic(topic).config.retention_ms == 3600000


@pytest.mark.parametrize(
    "client,codec",
    [
        ("kafkajs", "gzip"),
        ("kafkajs", "snappy"),
        ("platformatic", "gzip"),
        ("platformatic", "snappy"),
        ("platformatic", "lz4"),
    ],
)
def test_js_compressed_batches_are_stored_and_kcli_reads_them(js_modules, js_server, client, codec):
    topic = f"js-{client}-{codec}"
    _create(js_server, topic)
    run_js(js_modules, client, "produce", js_server.bootstrap, topic, codec)
    assert _kcli_consume(js_server, topic) == [f"value-{i}" for i in range(10)]
    # ... and a consumer of the other client reads them back through kcli serve (kafkajs has
    # no lz4 without a native module: @platformatic/kafka reads its own lz4 batches).
    other = "platformatic" if client == "kafkajs" or codec == "lz4" else "kafkajs"
    values = run_js(js_modules, other, "consume", js_server.bootstrap, topic, 10)["values"]
    assert [v["value"] for v in values] == [f"value-{i}" for i in range(10)]


def test_platformatic_admin_calls_at_kafka_4_versions(js_modules, js_server):
    topic = "js-platformatic-admin"
    store = _create(js_server, topic, 2)
    from storage import ProducerRecord

    store.log(topic, 0).append_records([ProducerRecord(b"x"), ProducerRecord(b"y")])
    result = run_js(js_modules, "platformatic", "admin", js_server.bootstrap, topic)
    assert result["partitions"] == 2
    assert result["logEnd"] == 2


@pytest.mark.parametrize(
    "client,codec",
    [
        ("kafkajs", "gzip"),
        ("kafkajs", "snappy"),
        ("platformatic", "snappy"),
        ("platformatic", "lz4"),
    ],
)
def test_js_consumers_read_batches_kcli_compressed(js_modules, js_server, client, codec):
    topic = f"js-kcli-{codec}-{client}"
    _create(js_server, topic)
    values = [f"kcli-{codec}-{i}" for i in range(10)]
    subprocess.run(
        ["kcli", "--data-dir", str(js_server.data_dir), "produce", topic, "--compression", codec],
        input="\n".join(values) + "\n",
        text=True,
        check=True,
        timeout=60,
    )
    read = run_js(js_modules, client, "consume", js_server.bootstrap, topic, 10)["values"]
    assert [v["value"] for v in read] == values
