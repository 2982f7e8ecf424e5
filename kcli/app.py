"""The kcli command line: one Typer app, one sub-app per noun, one error handler.

Command modules import only typer and the standard library at import time; the engine and
rich are imported inside the commands that need them, and a command's module is imported
(and its click command built) only when that command runs or help lists it, so every
command starts quickly.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import typer
import typer.main
from typer.core import TyperGroup

from kcli import __version__
from kcli.settings import ENV_DATA_DIR, Settings, resolve_data_dir, set_current

# Every top-level command, in the order `kcli --help` lists them: its name, the module that
# defines it and the attribute there, a Typer sub-app (a noun with verbs) or a function.
COMMANDS = {
    "topic": ("kcli.commands.topic", "app"),
    "produce": ("kcli.commands.produce", "produce"),
    "consume": ("kcli.commands.consume", "consume"),
    "group": ("kcli.commands.group", "app"),
    "log": ("kcli.commands.log", "app"),
    "perf": ("kcli.commands.perf", "app"),
    "learn": ("kcli.commands.learn", "app"),
    "demo": ("kcli.commands.demo", "app"),
    "info": ("kcli.commands.info", "info"),
    "check": ("kcli.commands.check", "check"),
    "serve": ("kcli.commands.serve", "serve"),
}


class LazyCommands(TyperGroup):
    """The top-level group: builds a command only when it is asked for.

    A command line runs one command, but typer builds every command's click parameters up
    front; for kcli's thirty-odd commands that, and importing their modules, was a tenth of
    a one-record produce.  Help asks for them all, and gets them all.
    """

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = _build(cmd_name)
        return self.commands.get(cmd_name)


def _build(name: str):
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    cls=LazyCommands,
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
    if debug:
        from kcli.render.output import show_debug_lines

        show_debug_lines()
    set_current(Settings(resolve_data_dir(data_dir), debug=debug, connection=connection))


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
