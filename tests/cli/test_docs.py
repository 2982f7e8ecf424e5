"""docs/cli.md is generated from the app: it must be current and cover every command."""

from __future__ import annotations

from pathlib import Path

import typer.main
from typer._click import Context

from kcli import docgen
from kcli.app import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date():
    assert DOC.read_text() == docgen.generate(), (
        "docs/cli.md is stale; regenerate it with: python -m kcli.docgen > docs/cli.md"
    )


def test_every_command_is_documented_with_a_docstring():
    text = DOC.read_text()
    root = typer.main.get_command(app)
    paths = docgen.commands(app)
    assert {"kcli topic create", "kcli produce", "kcli consume", "kcli log dump"} <= set(paths)
    for path in paths:
        assert f"`{path}`" in text, f"{path} is missing from docs/cli.md"
        command, ctx = root, Context(root, info_name="kcli")
        for name in path.split()[1:]:
            command = command.get_command(ctx, name)
            ctx = Context(command, info_name=name, parent=ctx)
        assert (command.help or "").strip(), f"{path} has no docstring (its --help text)"
