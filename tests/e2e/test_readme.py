"""The README's Python example runs as printed, against a fresh store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no ```python example"
    script = tmp_path / "example.py"
    # The example loops until poll() times out; count what it read to check it read everything.
    script.write_text(blocks[0] + "\nprint('read', msg is None)\n")
    env = {**os.environ, "KCLI_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # One line per record: partition, offset, key, value; ten invoices in all, none twice.
    records = [line for line in lines if line.startswith(("0 ", "1 ", "2 ", "3 "))]
    assert len(records) == 10
    assert len(set(records)) == 10
    assert lines[-1] == "read True"
