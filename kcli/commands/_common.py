"""Options and small functions the commands share (typer, the standard library and the
settings every command starts with)."""

from typing import Literal

import typer

from kcli.errors import KcliError, client_error  # noqa: F401 - client_error: for the commands
from kcli.settings import current

Output = Literal["table", "plain", "json"]
# Kafka's producer settings acks and compression.type, for `kcli produce` and `kcli perf produce`.
Acks = Literal["all", "-1", "1", "0"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]

ACKS_HELP = (
    "Kafka's acks: all (-1; the default, as Kafka's producer's, unless a --command-config or "
    "profile sets acks) waits until every in-sync replica "
    "has the record, and fails with NOT_ENOUGH_REPLICAS when they are fewer than "
    "min.insync.replicas; 1 waits for the leader only; 0 does not wait at all (no offsets "
    "known, a lost record goes unnoticed). On a cluster kcli retries a refused write 5 times "
    "(about 2.5 s) before it reports the error. The local store has no replicas and appends "
    "synchronously: every record is fsynced before it is reported, whatever --acks says."
)
COMPRESSION_HELP = (
    "Compress each record batch with none (default), gzip, snappy, lz4 or zstd, as kcat's -z "
    "(Kafka's compression.type); consumers decompress transparently."
)


def producer_settings(acks: str | None, compression: str | None) -> dict[str, str]:
    """--acks and --compression as producer config (only those given: a --command-config or
    profile's own acks/compression.type stays when an option is left out)."""
    conf = {}
    if acks is not None:
        conf["acks"] = acks
    if compression is not None:
        conf["compression.type"] = compression
    return conf


OUTPUT_HELP = (
    "Output form: table (default on a terminal), plain (default in a pipe) or json (one "
    "JSON object per line)."
)


def output_option():
    return typer.Option(
        None, "--output", "-o", help=OUTPUT_HELP, show_default=False, metavar="FORM"
    )


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["retention.ms=5000"]`` -> ``{"retention.ms": "5000"}``; a usage error otherwise."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"'{item}' is not KEY=VALUE (e.g. {option} retention.ms=60000)",
                param_hint=f"'{option}'",
            )
        out[key.strip()] = value
    return out


def store():
    """The local store chosen by --data-dir / KCLI_DATA_DIR (for commands that work only
    there; the others call backend())."""
    return current().store()


def backend():
    """The local store or the cluster chosen by --bootstrap-server / --profile, behind one
    interface (kcli.api)."""
    return current().backend()


def require_local(command: str) -> None:
    """Refuse, with a clear error, to run ``kcli COMMAND`` against a cluster."""
    current().require_local(command)


def data_dir() -> str:
    return str(current().data_dir)
