"""The kcli command line: one Typer app, one sub-app per noun, one error handler.

Command modules import only typer and the standard library at import time; the engine and
rich are imported inside the commands that need them, so ``kcli --help`` stays quick.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from kcli import __version__
from kcli.commands import consume as consume_cmd
from kcli.commands import demo as demo_cmd
from kcli.commands import group as group_cmd
from kcli.commands import info as info_cmd
from kcli.commands import learn as learn_cmd
from kcli.commands import log as log_cmd
from kcli.commands import perf as perf_cmd
from kcli.commands import produce as produce_cmd
from kcli.commands import serve as serve_cmd
from kcli.commands import topic as topic_cmd
from kcli.settings import ENV_DATA_DIR, Settings, resolve_data_dir, set_current

app = typer.Typer(
    name="kcli",
    help="Learn Apache Kafka on your laptop: topics, partitions, offsets, consumer groups and "
    "retention on a real commit log in Kafka's own format. Start with: kcli learn",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_CLUSTER_PANEL = "A Kafka cluster instead of the local store (see docs/remote.md)"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        envvar=ENV_DATA_DIR,
        help="Where topics and groups are stored (default: your user data directory; "
        "see 'kcli info').",
        show_envvar=True,
    ),
    bootstrap_server: str | None = typer.Option(
        None,
        "--bootstrap-server",
        help="Talk to this Kafka cluster instead of the local store (or set "
        "KCLI_BOOTSTRAP_SERVER). Topics, produce, consume, groups and perf work the same.",
        metavar="HOST:PORT[,...]",
        rich_help_panel=_CLUSTER_PANEL,
    ),
    command_config: Path | None = typer.Option(
        None,
        "--command-config",
        help="A properties file of Kafka client settings for the cluster, as for Kafka's "
        "tools: security.protocol, sasl.mechanism, sasl.username, sasl.password, "
        "ssl.ca.location ... (librdkafka's names).",
        metavar="FILE",
        rich_help_panel=_CLUSTER_PANEL,
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Use the cluster of profile NAME in kcli's config file (or set KCLI_PROFILE; "
        "KCLI_CONFIG names the file).",
        metavar="NAME",
        rich_help_panel=_CLUSTER_PANEL,
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """kcli: a Kafka you can run, read and break on your own laptop."""
    from kcli.connection import resolve_connection

    connection = resolve_connection(bootstrap_server, command_config, profile)
    set_current(Settings(resolve_data_dir(data_dir), debug=debug, connection=connection))


app.add_typer(topic_cmd.app, name="topic")
app.command("produce")(produce_cmd.produce)
app.command("consume")(consume_cmd.consume)
app.add_typer(group_cmd.app, name="group")
app.add_typer(log_cmd.app, name="log")
app.add_typer(perf_cmd.app, name="perf")
app.add_typer(learn_cmd.app, name="learn")
app.add_typer(demo_cmd.app, name="demo")
app.command("info")(info_cmd.info)
app.command("serve")(serve_cmd.serve)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("KCLI_DEBUG") == "1"


def main(argv: list[str] | None = None) -> None:
    """Run the app; turn every expected failure into one ``Error:`` line on stderr."""
    from typer._click import exceptions as click_exc  # typer vendors click since 0.2x

    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        result = app(args=args, prog_name="kcli", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except click_exc.NoArgsIsHelpError as exc:
        # `kcli` or `kcli topic` alone: show the help, as a user expects.
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        sys.exit(0)
    except click_exc.UsageError as exc:
        if debug:
            raise
        where = exc.ctx.command_path if exc.ctx is not None else "kcli"
        _error(f"{exc.format_message()} (see '{where} --help')")
        sys.exit(2)
    except click_exc.ClickException as exc:
        if debug:
            raise
        _error(exc.format_message())
        sys.exit(exc.exit_code or 1)
    except BrokenPipeError:
        # `kcli consume ... | head`: the reader left; that is not an error.
        _silence_stdout()
        sys.exit(0)
    except Exception as exc:
        if debug:
            raise
        from kcli.errors import KcliError

        if isinstance(exc, KcliError) or _is_storage_error(exc):
            _error(str(exc))
            sys.exit(getattr(exc, "exit_code", 1))
        if isinstance(exc, OSError):
            _error(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
            sys.exit(1)
        _error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(1)
    if isinstance(result, int) and result:
        sys.exit(result)


def _is_storage_error(exc: BaseException) -> bool:
    mod = sys.modules.get("storage.errors")
    return mod is not None and isinstance(exc, mod.StorageError)


def _error(message: str) -> None:
    message = " ".join(str(message).split("\n")).strip()
    if sys.stderr.isatty():
        sys.stderr.write(f"\x1b[31mError:\x1b[0m {message}\n")
    else:
        sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
