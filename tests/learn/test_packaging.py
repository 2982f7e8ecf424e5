"""The lessons ship inside the built package, so `kcli learn` works after `pip install .`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_every_lesson_and_snippet(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for package in ("kcli", "storage", "tutorials", "pyspark_kcli"):
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, src / package, ignore=ignore)
    # build_py is the step that lays out the package a wheel (and so `pip install .`) ships.
    build = tmp_path / "build"
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lessons = sorted(p.relative_to(ROOT / "tutorials") for p in (ROOT / "tutorials").rglob("*.md"))
    assert len(lessons) >= 15
    for lesson in lessons:
        shipped = build / "kcli" / "tutorials" / lesson
        assert shipped.read_bytes() == (ROOT / "tutorials" / lesson).read_bytes()
    assert (build / "kcli" / "learn" / "lessons.py").exists()
