"""Build hook: ship the lessons of ``tutorials/`` inside the package, as ``kcli/tutorials``.

The lessons live at the top of the repository, where people read them on the web; an
installed kcli needs them next to its code so that ``kcli learn`` works from any folder.
Everything else about the build is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LESSONS = Path(__file__).resolve().parent / "tutorials"


class BuildPyWithLessons(build_py):
    """build_py that also copies tutorials/**/*.md into the built kcli package."""

    def run(self):
        super().run()
        target_root = Path(self.build_lib) / "kcli" / "tutorials"
        for source in sorted(LESSONS.rglob("*.md")):
            target = target_root / source.relative_to(LESSONS)
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildPyWithLessons})
