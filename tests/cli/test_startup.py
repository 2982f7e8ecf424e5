"""What a kcli process imports: each command loads only what it uses.

Start-up speed itself is measured by benchmarks/bench_cli.py; these tests pin down the
import discipline that speed depends on, through real ``kcli`` processes, so that a stray
module-level import fails a test rather than quietly costing every command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from storage import Store

pytestmark = pytest.mark.local_only("start-up of the local store's commands")


def imported_modules(data_dir, tmp_path, *args: str) -> set[str]:
    """The modules a real kcli process running ``kcli ARGS`` had imported when it exited."""
    listing = tmp_path / "modules.json"
    script = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(listing)!r}, 'w').write(json.dumps(list(sys.modules))))\n"
        "from kcli.__main__ import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "KCLI_DATA_DIR": str(data_dir), "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(json.loads(listing.read_text()))


def roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_help_skips_markdown_and_syntax_highlighting(data_dir, tmp_path):
    modules = imported_modules(data_dir, tmp_path, "--help")
    assert "typer" in roots(modules)  # the help really was rendered by typer
    assert not roots(modules) & {"markdown_it", "pygments", "pydantic"}
    # only the command modules help lists are imported, not the engine
    assert "storage" not in roots(modules)


def test_one_record_produce_loads_the_engine_but_no_pydantic_or_other_commands(data_dir, tmp_path):
    Store(data_dir).create_topic("orders", 1)
    modules = imported_modules(data_dir, tmp_path, "produce", "orders", "hello")
    assert {"storage.log", "storage.records", "kcli.commands.produce"} <= modules
    assert "pydantic" not in roots(modules)
    assert not {m for m in modules if m.startswith("kcli.commands.")} - {
        "kcli.commands",
        "kcli.commands._common",
        "kcli.commands.produce",
    }
    assert not roots(modules) & {"markdown_it", "pygments"}


def test_lessons_still_render_markdown_after_the_start_up_placeholder():
    script = (
        "from kcli import _startup\n"
        "_startup.prepare()\n"
        "import sys\n"
        "from rich.console import Console\n"
        "from rich.markdown import Markdown\n"
        "console = Console(width=40, record=True, force_terminal=False)\n"
        "console.print(Markdown('# Offsets\\n\\n* one\\n* two'))\n"
        "import rich.markdown\n"
        "print(type(Markdown('x')).__module__, rich.markdown.Heading.__name__,\n"
        "      'markdown_it' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "Offsets" in proc.stdout and "• one" in proc.stdout
    assert proc.stderr.split() == ["rich.markdown", "Heading", "True"]


def test_rich_tracebacks_still_work_after_the_start_up_placeholder():
    script = (
        "from kcli import _startup\n"
        "_startup.prepare()\n"
        "from rich.console import Console\n"
        "from rich.traceback import Traceback\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError as exc:\n"
        "    tb = Traceback.from_exception(type(exc), exc, exc.__traceback__)\n"
        "Console(width=80, force_terminal=False).print(tb)\n"
        "print(type(tb).__module__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "ZeroDivisionError" in proc.stdout
    assert proc.stdout.split()[-1] == "rich.traceback"


def test_one_record_produce_does_not_load_the_compression_codecs(data_dir, tmp_path):
    Store(data_dir).create_topic("orders", 1)
    modules = imported_modules(data_dir, tmp_path, "produce", "orders", "hello")
    assert "storage.compression" in modules  # the codec names are there...
    assert "cramjam" not in roots(modules)  # ...but not the codecs: no batch was compressed


def test_one_record_produce_loads_no_cleaner_no_package_metadata_and_no_other_renderers(
    data_dir, tmp_path
):
    Store(data_dir).create_topic("orders", 1)
    modules = imported_modules(data_dir, tmp_path, "produce", "orders", "hello")
    # The CRC-32C extension, without the crc32c package's importlib.metadata and argparse.
    assert "crc32c._crc32c" in modules
    assert not {"importlib.metadata", "argparse"} & modules
    assert "storage.cleaner" not in modules  # the topic is not compacted
    renderers = {m for m in modules if m.startswith("kcli.render.")}
    assert renderers <= {"kcli.render.output", "kcli.render.progress", "kcli.render.records"}


def test_crc32c_from_the_extension_is_the_packages_own():
    script = (
        "import sys\n"
        "from storage.crc import crc32c\n"
        "print(hex(crc32c(b'123456789')), 'crc32c' in sys.modules)\n"
        "import crc32c as package\n"
        "print(package.crc32c is crc32c, package.__version__ != '')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.split() == ["0xe3069283", "False", "True", "True"]
