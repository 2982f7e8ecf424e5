"""Which Kafka a command talks to: the local store, or a cluster.

A cluster is chosen by, in this order: ``--bootstrap-server`` (or ``KCLI_BOOTSTRAP_SERVER``),
a profile in kcli's config file (``--profile NAME`` or ``KCLI_PROFILE``), or the
``bootstrap.servers`` line of a ``--command-config`` file.  Without any of them, commands
use the local store.  Security settings are librdkafka properties, from the profile and
then from the ``--command-config`` file, which wins::

    # ~/.config/kcli/config.toml (kcli info shows the exact path)
    [profile.cloud]
    bootstrap_server = "pkc-12345.europe-west1.gcp.confluent.cloud:9092"
    command_config = "cloud.properties"            # relative to this file

    [profile.company]
    bootstrap_server = "kafka1.example.com:9093,kafka2.example.com:9093"
    [profile.company.config]
    "security.protocol" = "SASL_SSL"
    "sasl.mechanism" = "SCRAM-SHA-512"
    "sasl.username" = "alice"
    "sasl.password" = "${KAFKA_PASSWORD}"         # read from the environment
    "ssl.ca.location" = "/etc/ssl/company-ca.pem"

Secrets (passwords, API secrets, private keys) never appear in messages: ``Connection``
knows which values are secret and ``scrub()`` masks them in any text shown to a user.

This module imports only the standard library (plus platformdirs when a profile is used):
resolving the connection runs before every command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kcli.errors import KcliError

ENV_BOOTSTRAP_SERVER = "KCLI_BOOTSTRAP_SERVER"
ENV_PROFILE = "KCLI_PROFILE"
ENV_CONFIG_FILE = "KCLI_CONFIG"
CONFIG_FILE_NAME = "config.toml"
PROFILE_KEYS = ("bootstrap_server", "command_config", "config")
MASK = "********"

# Property names whose values are secret.  librdkafka's own sensitive properties, Java's
# sasl.jaas.config (which embeds the password) and Schema Registry credentials.
_SECRET_NAME = re.compile(
    r"password|secret|jaas|token|private|key\.pem|ssl_key|user\.info|oauthbearer\.config",
    re.IGNORECASE,
)
# Settings in the files Confluent Cloud and Java tools hand out that are meant for other
# programs (Schema Registry, Java-only DNS and truststore handling): librdkafka would refuse
# them, so they are left out.
_NOT_FOR_LIBRDKAFKA = re.compile(r"^(schema\.registry\.|basic\.auth\.|bearer\.auth\.)")
_JAAS_FIELD = re.compile(r"""\b(username|password)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def is_secret(name: str) -> bool:
    """Whether a client property holds a secret (its value is never shown)."""
    return bool(_SECRET_NAME.search(name))


@dataclass(frozen=True)
class Connection:
    """A Kafka cluster to talk to: bootstrap servers plus librdkafka client properties."""

    bootstrap_servers: str
    properties: Mapping[str, str] = field(default_factory=dict)
    # Where the bootstrap servers came from, for messages: "--bootstrap-server",
    # "KCLI_BOOTSTRAP_SERVER", "profile 'cloud' in /home/me/.config/kcli/config.toml" ...
    origin: str = "--bootstrap-server"
    profile: str | None = None
    # Files the properties were read from, in the order applied.
    sources: tuple[str, ...] = ()

    def client_config(self) -> dict[str, str]:
        """The librdkafka configuration: properties plus ``bootstrap.servers``."""
        conf = dict(self.properties)
        conf["bootstrap.servers"] = self.bootstrap_servers
        return conf

    @property
    def security_protocol(self) -> str:
        return str(self.properties.get("security.protocol", "PLAINTEXT")).upper()

    @property
    def sasl_mechanism(self) -> str | None:
        value = self.properties.get("sasl.mechanism", self.properties.get("sasl.mechanisms"))
        return None if value is None else str(value)

    def secrets(self) -> list[str]:
        """Every secret value, longest first (so that scrub() masks whole values)."""
        values = {str(v) for k, v in self.properties.items() if is_secret(k) and str(v)}
        return sorted(values, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret value replaced by a mask."""
        for secret in self.secrets():
            text = text.replace(secret, MASK)
        return text

    def redacted(self) -> dict[str, str]:
        """The client configuration as it may be shown: secret values masked."""
        return {k: MASK if is_secret(k) else str(v) for k, v in self.client_config().items()}

    def summary(self) -> str:
        """One line for messages: servers, security protocol and SASL mechanism."""
        auth = self.security_protocol
        if self.sasl_mechanism and "SASL" in auth:
            auth += f", {self.sasl_mechanism}"
        return f"{self.bootstrap_servers} ({auth}; from {self.origin})"


def config_file() -> Path:
    """kcli's config file: ``KCLI_CONFIG``, else config.toml in the user config directory."""
    env = os.environ.get(ENV_CONFIG_FILE)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("kcli", appauthor=False)) / CONFIG_FILE_NAME


def resolve_connection(
    bootstrap_server: str | None = None,
    command_config: str | os.PathLike | None = None,
    profile: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Connection | None:
    """The cluster the options and environment point at, or None for the local store.

    Raises KcliError (never showing a secret) for a missing profile, an unreadable file, a
    malformed server list or a ``--command-config`` without any cluster to apply it to.
    """
    env = os.environ if environ is None else environ
    bootstrap, origin = None, ""
    if bootstrap_server is not None:
        bootstrap, origin = bootstrap_server, "--bootstrap-server"
    elif env.get(ENV_BOOTSTRAP_SERVER):
        bootstrap, origin = env[ENV_BOOTSTRAP_SERVER], ENV_BOOTSTRAP_SERVER
    profile_name = profile if profile is not None else (env.get(ENV_PROFILE) or None)
    properties: dict[str, str] = {}
    sources: list[str] = []
    if profile_name is not None:
        path = config_file()
        prof = load_profile(profile_name, path, env)
        properties.update(prof.properties)
        sources.extend(prof.sources)
        if bootstrap is None and prof.bootstrap_server:
            bootstrap, origin = prof.bootstrap_server, f"profile '{profile_name}' in {path}"
        if bootstrap is None:
            raise KcliError(
                f"profile '{profile_name}' in {path} has no bootstrap_server; add a line "
                f'bootstrap_server = "HOST:PORT" to [profile.{profile_name}]'
            )
    if command_config is not None:
        path = Path(command_config).expanduser()
        from_file = read_properties(path, env)
        file_bootstrap = from_file.pop("bootstrap.servers", None)
        properties.update(from_file)
        sources.append(str(path))
        if bootstrap is None and file_bootstrap:
            bootstrap, origin = file_bootstrap, f"bootstrap.servers in {path}"
        if bootstrap is None:
            raise KcliError(
                f"--command-config {path} sets no bootstrap.servers and no cluster was given; "
                f"add --bootstrap-server HOST:PORT (or --profile NAME)"
            )
    if bootstrap is None:
        return None
    properties.pop("bootstrap.servers", None)
    return Connection(
        bootstrap_servers=check_bootstrap_servers(bootstrap, origin),
        properties=properties,
        origin=origin,
        profile=profile_name,
        sources=tuple(sources),
    )


def check_bootstrap_servers(value: str, origin: str = "--bootstrap-server") -> str:
    """``host:port[,host:port...]``, whitespace removed; KcliError otherwise."""
    servers = [s.strip() for s in str(value).split(",")]
    for server in servers:
        match = _HOST_PORT.match(server)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            shown = server or "(empty)"
            raise KcliError(
                f"{origin}: '{shown}' is not HOST:PORT; give one or more brokers as "
                f"HOST:PORT[,HOST:PORT...], e.g. localhost:9092"
            )
    return ",".join(servers)


@dataclass(frozen=True)
class Profile:
    """A ``[profile.NAME]`` section of the config file, with its properties resolved."""

    name: str
    bootstrap_server: str | None
    properties: dict[str, str]
    sources: tuple[str, ...]


def load_profile(name: str, path: Path, environ: Mapping[str, str] | None = None) -> Profile:
    """Read ``[profile.NAME]`` from ``path`` (TOML)."""
    import tomllib

    env = os.environ if environ is None else environ
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise KcliError(
            f"no profile '{name}': the config file {path} does not exist; create it with a "
            f'[profile.{name}] section holding bootstrap_server = "HOST:PORT"'
        ) from None
    except OSError as exc:
        raise KcliError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KcliError(f"the config file {path} is not valid TOML: {exc}") from None
    profiles = doc.get("profile", {})
    if not isinstance(profiles, dict) or name not in profiles:
        names = sorted(profiles) if isinstance(profiles, dict) else []
        where = f"profiles there: {', '.join(names)}" if names else "it defines no profiles"
        raise KcliError(f"no profile '{name}' in {path}; {where}")
    section = profiles[name]
    if not isinstance(section, dict):
        raise KcliError(f"[profile.{name}] in {path} must be a table of settings")
    unknown = sorted(set(section) - set(PROFILE_KEYS))
    if unknown:
        raise KcliError(
            f"unknown setting '{unknown[0]}' in [profile.{name}] of {path}; valid settings: "
            f"{', '.join(PROFILE_KEYS)}"
        )
    where = f"[profile.{name}] in {path}"
    bootstrap = section.get("bootstrap_server")
    if bootstrap is not None:
        bootstrap = _expand(_as_text(bootstrap, "bootstrap_server", where), where, env)
    properties: dict[str, str] = {}
    sources: list[str] = [str(path)]
    command_config = section.get("command_config")
    if command_config is not None:
        file = Path(_expand(_as_text(command_config, "command_config", where), where, env))
        file = file.expanduser()
        if not file.is_absolute():
            file = path.parent / file
        from_file = read_properties(file, env)
        if bootstrap is None:
            bootstrap = from_file.get("bootstrap.servers")
        from_file.pop("bootstrap.servers", None)
        properties.update(from_file)
        sources.append(str(file))
    inline = section.get("config", {})
    if not isinstance(inline, dict):
        raise KcliError(f"'config' in {where} must be a table of librdkafka properties")
    for key, value in inline.items():
        if isinstance(value, dict | list):
            raise KcliError(f"'{key}' in {where}.config must be a string, number or boolean")
        properties[key] = _expand(_as_text(value, key, where), where, env)
    return Profile(name, bootstrap, translate_java_properties(properties), tuple(sources))


def _as_text(value, key: str, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise KcliError(f"'{key}' in {where} must be a string, number or boolean")


def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` by the environment variable NAME (so secrets can stay out of files)."""

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ:
            raise KcliError(f"{where} refers to ${{{name}}}, but the environment has no {name}")
        return environ[name]

    return _ENV_REF.sub(sub, value)


def read_properties(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A Java-style .properties file (what ``--command-config`` takes, as Kafka's tools do).

    ``key=value``, ``key: value`` or ``key value`` per line; ``#`` and ``!`` start comments;
    a line ending in a backslash continues on the next.  ``${NAME}`` is replaced by the
    environment variable NAME.  Java's ``sasl.jaas.config`` for PLAIN and SCRAM becomes
    librdkafka's ``sasl.username``/``sasl.password``; Schema Registry settings are skipped.
    """
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KcliError(f"--command-config: the file {path} does not exist") from None
    except IsADirectoryError:
        raise KcliError(f"--command-config: {path} is a directory, not a properties file") from None
    except UnicodeDecodeError:
        raise KcliError(f"--command-config: {path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise KcliError(f"--command-config: cannot read {path}: {exc.strerror or exc}") from None
    properties: dict[str, str] = {}
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if _continues(line):
            pending = line[:-1]
            continue
        key, value = _split_property(line)
        if not key:
            raise KcliError(f"{path} line {number}: a property needs a name before its value")
        properties[key] = _expand(value, f"{path} line {number}", env)
    if pending:
        key, value = _split_property(pending)
        properties[key] = _expand(value, str(path), env)
    return translate_java_properties(properties)


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_property(line: str) -> tuple[str, str]:
    match = re.search(r"\s*[=:]\s*|\s+", line)
    if match is None:
        return line, ""
    return line[: match.start()], line[match.end() :]


def translate_java_properties(properties: dict[str, str]) -> dict[str, str]:
    """Java client settings that librdkafka spells differently, spelled its way."""
    out = {k: v for k, v in properties.items() if not _NOT_FOR_LIBRDKAFKA.match(k)}
    jaas = out.pop("sasl.jaas.config", None)
    if jaas is not None:
        module = jaas.split(None, 1)[0] if jaas.strip() else ""
        if not module.endswith(("PlainLoginModule", "ScramLoginModule")):
            raise KcliError(
                "sasl.jaas.config with "
                f"{module.rsplit('.', 1)[-1] or 'no login module'} cannot be used by kcli "
                "(librdkafka); give sasl.username and sasl.password (PLAIN or SCRAM) or "
                "librdkafka's sasl.oauthbearer.* settings instead"
            )
        fields = {
            m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _JAAS_FIELD.finditer(jaas)
        }
        for name in ("username", "password"):
            if name in fields:
                out.setdefault(f"sasl.{name}", fields[name].replace('\\"', '"'))
    truststore = out.get("ssl.truststore.location")
    if truststore is not None and "ssl.ca.location" not in out:
        raise KcliError(
            f"ssl.truststore.location ({truststore}) is a Java truststore; kcli talks to Kafka "
            f"through librdkafka, which reads CA certificates in PEM: set ssl.ca.location to "
            f"a .pem file instead"
        )
    for java_only in ("ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type"):
        out.pop(java_only, None)
    return out


def local_only_error(command: str | None = None) -> KcliError:
    """The error a command that needs the local store gives when a cluster was chosen."""
    what = f"'kcli {command}'" if command else "this command"
    return KcliError(
        f"{what} works only on the local store; drop --bootstrap-server "
        f"(and --profile, KCLI_BOOTSTRAP_SERVER, KCLI_PROFILE) to use it"
    )
