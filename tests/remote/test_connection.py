"""Choosing a cluster: --bootstrap-server, KCLI_BOOTSTRAP_SERVER, profiles, --command-config;
and secrets that never show."""

from __future__ import annotations

import pytest

from kcli.connection import (
    MASK,
    Connection,
    is_secret,
    local_only_error,
    read_properties,
    resolve_connection,
)
from kcli.errors import KcliError

SECRET = "pa55-w0rd-QXJ"


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """KCLI_CONFIG pointing at a config.toml the test writes."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("KCLI_CONFIG", str(path))
    return path


def resolve(*args, env=None, **kwargs):
    return resolve_connection(*args, environ=env or {}, **kwargs)


def test_without_any_cluster_option_the_local_store_is_used():
    assert resolve() is None
    assert resolve(env={"KCLI_DATA_DIR": "/x"}) is None


def test_option_wins_over_environment_and_both_are_named_as_origin():
    c = resolve("a:1", env={"KCLI_BOOTSTRAP_SERVER": "b:2"})
    assert (c.bootstrap_servers, c.origin) == ("a:1", "--bootstrap-server")
    c = resolve(env={"KCLI_BOOTSTRAP_SERVER": " b:2 , c:3 "})
    assert (c.bootstrap_servers, c.origin) == ("b:2,c:3", "KCLI_BOOTSTRAP_SERVER")
    assert c.client_config() == {"bootstrap.servers": "b:2,c:3"}


@pytest.mark.parametrize("bad", ["localhost", "host:", ":9092", "h:0", "h:70000", "a:1,,b:2", ""])
def test_malformed_server_lists_are_refused_with_an_example(bad):
    with pytest.raises(KcliError, match=r"HOST:PORT.*localhost:9092"):
        resolve(bad)


def test_ipv6_literal_in_brackets_is_accepted():
    assert resolve("[::1]:9092").bootstrap_servers == "[::1]:9092"


def test_profile_with_inline_config_and_secret_from_the_environment(config_file):
    config_file.write_text(
        """
[profile.company]
bootstrap_server = "k1.example.com:9093,k2.example.com:9093"
[profile.company.config]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "alice"
"sasl.password" = "${KAFKA_PASSWORD}"
"enable.ssl.certificate.verification" = true
"""
    )
    c = resolve(profile="company", env={"KAFKA_PASSWORD": SECRET})
    assert c.bootstrap_servers == "k1.example.com:9093,k2.example.com:9093"
    assert c.origin == f"profile 'company' in {config_file}"
    assert c.properties["sasl.password"] == SECRET
    assert c.properties["enable.ssl.certificate.verification"] == "true"
    assert (c.security_protocol, c.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    # KCLI_PROFILE does the same as --profile.
    assert resolve(env={"KCLI_PROFILE": "company", "KAFKA_PASSWORD": SECRET}) == c


def test_option_overrides_the_profiles_servers_but_keeps_its_security(config_file):
    config_file.write_text(
        '[profile.p]\nbootstrap_server = "far:9092"\nconfig = {"security.protocol" = "SSL"}\n'
    )
    c = resolve("near:9092", profile="p")
    assert c.bootstrap_servers == "near:9092"
    assert c.properties == {"security.protocol": "SSL"}


def test_profile_command_config_is_relative_to_the_config_file(config_file, tmp_path):
    (tmp_path / "cloud.properties").write_text(
        "bootstrap.servers=pkc-1.cloud:9092\nsecurity.protocol=SASL_SSL\n"
        "sasl.mechanisms=PLAIN\nsasl.username=KEY\nsasl.password=" + SECRET + "\n"
    )
    config_file.write_text('[profile.cloud]\ncommand_config = "cloud.properties"\n')
    c = resolve(profile="cloud")
    assert c.bootstrap_servers == "pkc-1.cloud:9092"
    assert "bootstrap.servers" not in c.properties
    assert c.sources == (str(config_file), str(tmp_path / "cloud.properties"))


def test_missing_profile_names_the_file_and_the_profiles_there(config_file):
    with pytest.raises(KcliError, match="does not exist"):
        resolve(profile="x")
    config_file.write_text('[profile.a]\nbootstrap_server = "a:1"\n[profile.b]\n')
    with pytest.raises(KcliError, match=r"no profile 'x' in .*profiles there: a, b"):
        resolve(profile="x")
    with pytest.raises(KcliError, match=r"profile 'b' .* has no bootstrap_server"):
        resolve(profile="b")


def test_profile_mistakes_are_explained(config_file):
    config_file.write_text('[profile.a]\nbootstrap = "a:1"\n')
    with pytest.raises(KcliError, match="unknown setting 'bootstrap'.*bootstrap_server"):
        resolve(profile="a")
    config_file.write_text("[profile.a\n")
    with pytest.raises(KcliError, match="not valid TOML"):
        resolve(profile="a")
    config_file.write_text(
        f'[profile.a]\nbootstrap_server = "a:1"\nconfig = {{"x" = "${{NOPE}}{SECRET}"}}\n'
    )
    with pytest.raises(KcliError, match="environment has no NOPE") as caught:
        resolve(profile="a")
    assert SECRET not in str(caught.value)


def test_command_config_supplies_security_and_may_supply_servers(tmp_path):
    props = tmp_path / "client.properties"
    props.write_text(
        "# Confluent Cloud (Java client)\n"
        "! another comment\n"
        "bootstrap.servers = pkc-9.cloud:9092\n"
        "security.protocol: SASL_SSL\n"
        "sasl.mechanism PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"
        f"    username='API_KEY' password='{SECRET}';\n"
        "schema.registry.url=https://psrc.cloud\n"
        "basic.auth.user.info=SR_KEY:SR_SECRET\n"
    )
    c = resolve(command_config=props)
    assert c.bootstrap_servers == "pkc-9.cloud:9092"
    assert c.origin == f"bootstrap.servers in {props}"
    assert c.properties == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "API_KEY",
        "sasl.password": SECRET,
    }
    # The option's servers win over the file's.
    assert resolve("other:1", command_config=props).bootstrap_servers == "other:1"


def test_command_config_without_any_cluster_is_refused(tmp_path):
    props = tmp_path / "c.properties"
    props.write_text("security.protocol=SSL\n")
    with pytest.raises(KcliError, match="add --bootstrap-server"):
        resolve(command_config=props)
    with pytest.raises(KcliError, match="does not exist"):
        resolve("a:1", command_config=tmp_path / "missing.properties")
    with pytest.raises(KcliError, match="is a directory"):
        resolve("a:1", command_config=tmp_path)


def test_java_only_settings_are_refused_or_translated(tmp_path):
    props = tmp_path / "c.properties"
    props.write_text(
        "sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required "
        f"password='{SECRET}';\n"
    )
    with pytest.raises(KcliError, match="Krb5LoginModule cannot be used") as caught:
        read_properties(props)
    assert SECRET not in str(caught.value)
    props.write_text("ssl.truststore.location=/etc/truststore.jks\n")
    with pytest.raises(KcliError, match="ssl.ca.location"):
        read_properties(props)
    props.write_text(
        "ssl.truststore.location=/etc/truststore.jks\nssl.truststore.password=x\n"
        "ssl.ca.location=/etc/ca.pem\n"
    )
    assert read_properties(props) == {"ssl.ca.location": "/etc/ca.pem"}


def test_secrets_are_masked_everywhere_they_could_show():
    c = Connection(
        "h:1",
        {
            "sasl.username": "alice",
            "sasl.password": SECRET,
            "ssl.key.password": "k3y-pass",
            "sasl.oauthbearer.client.secret": "oauth-s3cret",
        },
    )
    assert is_secret("sasl.password") and is_secret("sasl.jaas.config")
    assert not is_secret("sasl.username") and not is_secret("ssl.ca.location")
    redacted = c.redacted()
    assert redacted["sasl.password"] == MASK and redacted["ssl.key.password"] == MASK
    assert redacted["sasl.username"] == "alice"
    text = f"login failed for alice with {SECRET} (key k3y-pass, oauth-s3cret)"
    scrubbed = c.scrub(text)
    assert SECRET not in scrubbed and "k3y-pass" not in scrubbed and "oauth-s3cret" not in scrubbed
    assert "alice" in scrubbed
    assert SECRET not in c.summary() and SECRET not in repr(c.redacted())


def test_local_only_commands_say_what_to_drop():
    message = str(local_only_error("log dump"))
    assert "works only on the local store" in message
    assert "drop --bootstrap-server" in message
