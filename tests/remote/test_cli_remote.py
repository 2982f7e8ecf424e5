"""What only a cluster has through the command line: choosing it (option, environment,
profile, properties file), its errors, secrets that never show, and the commands that stay
local."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import pytest

from tests.conftest import json_lines, ok, one_error_line, run_kcli

SECRET = "Sup3r-s3cret-9x"


def test_environment_profile_and_properties_file_choose_the_cluster(cluster, tmp_path):
    local = tmp_path / "local-data"
    assert run_kcli(local, "topic", "create", "only-local").returncode == 0
    env = {"KCLI_BOOTSTRAP_SERVER": cluster.bootstrap}
    assert run_kcli(local, "topic", "create", "remote-one", env=env).returncode == 0
    assert run_kcli(local, "topic", "list", env=env).stdout == "remote-one\n"
    assert run_kcli(local, "topic", "list").stdout == "only-local\n"

    config = tmp_path / "config.toml"
    props = tmp_path / "client.properties"
    props.write_text(f"client.id=from-a-file\nbootstrap.servers={cluster.bootstrap}\n")
    config.write_text('[profile.here]\ncommand_config = "client.properties"\n')
    env = {"KCLI_CONFIG": str(config)}
    listed = run_kcli(local, "--profile", "here", "topic", "list", env=env)
    assert listed.stdout == "remote-one\n", listed.stderr
    profiled = {**env, "KCLI_PROFILE": "here"}
    (info,) = [
        json.loads(x)
        for x in run_kcli(local, "info", "-o", "json", env=profiled).stdout.splitlines()
    ]
    assert info["profile"] == "here" and info["config_file"] == str(config)
    assert info["from"] == f"profile 'here' in {config}"
    listed = run_kcli(local, "--command-config", str(props), "topic", "list")
    assert listed.stdout == "remote-one\n", listed.stderr


def test_secrets_never_show_in_errors_info_or_debug_output(cluster, tmp_path):
    props = tmp_path / "secret.properties"
    props.write_text(f"sasl.username=api-key\nsasl.password={SECRET}\n")
    args = ("--bootstrap-server", cluster.bootstrap, "--command-config", str(props))
    info = run_kcli(tmp_path, *args, "info", "-o", "json")
    assert info.returncode == 0, info.stderr
    debug = run_kcli(tmp_path, *args, "--debug", "topic", "describe", "nope")
    assert "sasl.password=********" in debug.stderr and debug.returncode == 1
    props.write_text(
        f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=api-key\n"
        f"sasl.password={SECRET}\n"
    )
    refused = run_kcli(tmp_path, *args, "topic", "list")
    assert "refused the credentials" in one_error_line(refused)
    for result in (info, debug, refused):
        assert SECRET not in result.stdout + result.stderr


def test_an_unreachable_cluster_is_one_error_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_kcli(tmp_path, "--bootstrap-server", f"127.0.0.1:{port}", "topic", "list")
    assert "cannot connect to the Kafka cluster" in one_error_line(result)
    result = run_kcli(tmp_path, "--bootstrap-server", "localhost", "topic", "list")
    assert "HOST:PORT" in one_error_line(result)


@pytest.mark.parametrize(
    "args",
    [
        ("log", "dump", "t"),
        ("learn",),
        ("learn", "list"),
        ("demo", "retention", "--fast"),
        ("serve", "--port", "0"),
    ],
    ids=["log-dump", "learn", "learn-list", "demo", "serve"],
)
def test_local_only_commands_say_so(cluster, args):
    result = run_kcli(cluster.data_dir, "--bootstrap-server", cluster.bootstrap, *args)
    line = one_error_line(result)
    assert "works only on the local store; drop --bootstrap-server" in line


def test_group_commands_read_the_same_on_the_store_and_on_a_cluster(cli_runner):
    """kcli group list/describe/reset/delete, on [local] and [remote]: the same rows, except
    what the admin API does not tell (generation, member pids: null on a cluster)."""
    kcli = cli_runner
    ok(kcli("topic", "create", "t", "--partitions", "2"))
    ok(kcli("produce", "t", "--partition", "0", "a0", "a1", "a2"))
    ok(kcli("produce", "t", "--partition", "1", "b0", "b1", "b2"))
    ok(kcli("consume", "t", "--group", "g", "--max-messages", "4"))

    (listed,) = json_lines(ok(kcli("group", "list", "-o", "json")).stdout)
    assert (listed["group"], listed["state"], listed["members"]) == ("g", "Empty", 0)
    assert (listed["generation"] is None) == (kcli.backend == "remote")
    rows = json_lines(ok(kcli("group", "describe", "g", "-o", "json")).stdout)
    assert [(r["partition"], r["log_end_offset"], r["member_id"]) for r in rows] == [
        (0, 3, None),
        (1, 3, None),
    ]
    assert sum(r["committed_offset"] or 0 for r in rows) == 4
    for r in rows:
        committed = r["committed_offset"]
        assert r["lag"] == (None if committed is None else r["log_end_offset"] - committed)

    dry = json_lines(
        ok(kcli("group", "reset", "g", "-t", "t", "--to-earliest", "-o", "json")).stdout
    )
    assert [r["new_offset"] for r in dry] == [0, 0]
    after_dry = json_lines(ok(kcli("group", "describe", "g", "-o", "json")).stdout)
    assert after_dry == rows  # a plan changes nothing
    ok(kcli("group", "reset", "g", "-t", "t", "--to-earliest", "--execute"))
    again = ok(kcli("consume", "t", "--group", "g")).stdout.split()
    assert sorted(again) == ["a0", "a1", "a2", "b0", "b1", "b2"]

    follower = subprocess.Popen(
        kcli.argv("consume", "t", "--group", "g", "--follow", "--session-timeout-ms", "6000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stderr.readline().startswith("assigned: t-0, t-1")
        (member,) = json_lines(ok(kcli("group", "describe", "g", "--members", "-o", "json")).stdout)
        assert member["client_id"] == "kcli-consume"
        assert member["assignment"] == [
            {"topic": "t", "partition": 0},
            {"topic": "t", "partition": 1},
        ]
        busy = kcli("group", "reset", "g", "-t", "t", "--to-latest", "--execute")
        assert "1 live member" in one_error_line(busy)
        assert "1 live member" in one_error_line(kcli("group", "delete", "g"))
    finally:
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=60)
    assert follower.returncode == 0
    # Gone from the group as soon as it has exited: the group can be deleted at once.
    ok(kcli("group", "delete", "g"))
    assert ok(kcli("group", "list", "-o", "json")).stdout == ""
    assert "does not exist" in one_error_line(kcli("group", "delete", "g"))
