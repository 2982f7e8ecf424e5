"""Options and small functions the commands share (typer, the standard library and the
settings every command starts with)."""

from typing import Literal

import typer

from kcli.errors import KcliError
from kcli.settings import current

Output = Literal["table", "plain", "json"]

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


def client_error(exc: Exception):
    """A client-API KafkaException as the CLI's one-line error (KcliError)."""
    error = exc.args[0] if exc.args else exc
    reason = error.str() if hasattr(error, "str") else str(error)
    return KcliError(reason)
