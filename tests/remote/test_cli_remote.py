"""What only a cluster has through the command line: choosing it (option, environment,
profile, properties file), its errors, secrets that never show, and the commands that stay
local."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import run_kcli

SECRET = "Sup3r-s3cret-9x"


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


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
