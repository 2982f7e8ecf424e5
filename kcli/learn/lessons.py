"""Lessons as data: one Markdown file per lesson, YAML front matter holding its checks.

A lesson file (``tutorials/NN-slug.md``) looks like::

    ---
    title: What Kafka is
    creates: {topics: [hello, signups]}
    checks:
      - {kind: topic, topic: signups}
      - {kind: records, topic: signups, min: 3}
    ---
    ## What you will learn
    ...
    ## Hint
    ...
    ## Solution
    ...

The sections named ``Hint`` and ``Solution`` are kept out of ``kcli learn show`` and shown by
``kcli learn hint``.  Every ```` ```console ```` block holds commands after a ``$ `` prompt
(continuation lines after ``> ``) followed by the output a learner should see.  The words after
``console`` in the fence are for the runner that executes lessons in the test suite:
``background`` (start the commands and leave them running, as in another terminal),
``wait="TEXT"`` (a background command is ready once it printed TEXT), ``retry`` (output that
depends on background processes: run again until it matches) and ``nocheck`` (run, but do not
compare the output).

``<!-- include: _snippets/NAME.md -->`` pulls in a snippet file when it exists, so other parts
of the project can add to a lesson (a Spark or wire-protocol section) without editing it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from kcli.errors import KcliError

LESSON_FILE = re.compile(r"^(\d\d)-([a-z0-9-]+)\.md$")
REQUIRED_SECTIONS = (
    "What you will learn",
    "The idea",
    "Try it",
    "What you should see",
    "Exercise",
    "Hint",
    "Check",
)
HIDDEN_SECTIONS = ("Hint", "Solution")
_INCLUDE = re.compile(r"^<!--\s*include:\s*(\S+)\s*-->\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SECTION = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)


class LessonNotFound(KcliError):
    """There is no lesson with that number."""


@dataclass(frozen=True)
class Step:
    """One command of a lesson, with the output the lesson shows for it."""

    command: str
    expected: tuple[str, ...]
    section: str
    background: bool = False
    wait_for: str | None = None
    retry: bool = False
    check_output: bool = True


@dataclass(frozen=True)
class Lesson:
    """One lesson: its number, title, Markdown body and the checks that judge the exercise."""

    number: int
    slug: str
    title: str
    path: Path
    body: str
    checks: tuple[dict, ...] = field(default_factory=tuple)
    minutes: int = 10
    # What the lesson's commands create, so `kcli learn reset` can remove it.
    creates_topics: tuple[str, ...] = ()
    creates_groups: tuple[str, ...] = ()

    def sections(self) -> dict[str, str]:
        """The body's ``## `` sections by heading, in order."""
        out: dict[str, str] = {}
        matches = list(_SECTION.finditer(self.body))
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(self.body)
            out[m.group(1)] = self.body[m.end() : end].strip("\n")
        return out

    @property
    def summary(self) -> str:
        """The "What you will learn" paragraph, as one line of plain text."""
        text = self.sections().get("What you will learn", "")
        return " ".join(text.split())

    def markdown(self) -> str:
        """The lesson as ``kcli learn show`` renders it: hint and solution held back."""
        kept = []
        matches = list(_SECTION.finditer(self.body))
        kept.append(self.body[: matches[0].start()] if matches else self.body)
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(self.body)
            if m.group(1) in HIDDEN_SECTIONS:
                continue
            kept.append(self.body[m.start() : end])
        text = "".join(kept).rstrip() + "\n"
        return f"# {self.number}. {self.title}\n\n{_strip_runner_words(text)}"

    def hint(self) -> str:
        return _strip_runner_words(self.sections().get("Hint", "").strip())

    def solution(self) -> str:
        return _strip_runner_words(self.sections().get("Solution", "").strip())

    def steps(self) -> list[Step]:
        """Every command of every ```console block, in the order a learner types them."""
        steps: list[Step] = []
        sections = list(_SECTION.finditer(self.body))
        for block in _FENCE.finditer(self.body):
            words = block.group("info").strip()
            if not words.startswith("console"):
                continue
            opts = _block_options(words[len("console") :])
            section = ""
            for m in sections:
                if m.start() < block.start():
                    section = m.group(1)
            steps.extend(_parse_console(block.group("body"), section, opts))
        return steps


def _block_options(words: str) -> dict[str, str | bool]:
    opts: dict[str, str | bool] = {}
    for word in shlex.split(words):
        key, eq, value = word.partition("=")
        opts[key] = value if eq else True
    return opts


def _parse_console(body: str, section: str, opts: dict) -> list[Step]:
    steps: list[Step] = []
    command: list[str] | None = None
    expected: list[str] = []

    def flush() -> None:
        if command is not None:
            steps.append(
                Step(
                    command="\n".join(command),
                    expected=tuple(expected),
                    section=section,
                    background=bool(opts.get("background")),
                    wait_for=opts.get("wait") or None,
                    retry=bool(opts.get("retry")),
                    check_output=not opts.get("nocheck"),
                )
            )

    for line in body.splitlines():
        if line.startswith("$ "):
            flush()
            command, expected = [line[2:]], []
        elif (line.startswith("> ") or line == ">") and command is not None and not expected:
            command.append(line[2:])
        elif command is not None:
            expected.append(line)
    flush()
    return steps


_RUNNER_WORDS = re.compile(r"^```console[^\n]*$", re.MULTILINE)


def _strip_runner_words(text: str) -> str:
    """Learners see plain ```console fences; the runner's words are for the test suite."""
    return _RUNNER_WORDS.sub("```console", text)


# -- loading ------------------------------------------------------------------------------------


def lessons_dir() -> Path:
    """Where the lessons are: inside the installed package, else the repository's tutorials/."""
    here = Path(__file__).resolve().parent.parent  # the kcli package
    for candidate in (here / "tutorials", here.parent / "tutorials"):
        if candidate.is_dir() and any(candidate.glob("[0-9][0-9]-*.md")):
            return candidate
    raise KcliError(
        "the lessons are missing from this installation (no tutorials folder next to the kcli "
        "package); reinstall kcli with: pip install ."
    )


def parse_lesson(path: Path) -> Lesson:
    """Read one lesson file: front matter (YAML) and Markdown body, snippets expanded."""
    import yaml

    m = LESSON_FILE.match(path.name)
    if not m:
        raise KcliError(f"{path.name} is not a lesson file name (expected NN-slug.md)")
    text = path.read_text(encoding="utf-8")
    meta: dict = {}
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end < 0:
            raise KcliError(f"{path.name}: front matter is not closed by a '---' line")
        try:
            meta = yaml.safe_load(text[4:end]) or {}
        except yaml.YAMLError as exc:
            raise KcliError(f"{path.name}: front matter is not valid YAML ({exc})") from None
        text = text[end + 5 :]
    body = _INCLUDE.sub(lambda inc: _include(path.parent, inc.group(1)), text)
    checks = tuple(meta.get("checks") or ())
    creates = meta.get("creates") or {}
    return Lesson(
        number=int(m.group(1)),
        slug=m.group(2),
        title=str(meta.get("title") or m.group(2).replace("-", " ").capitalize()),
        path=path,
        body=body.lstrip("\n"),
        checks=checks,
        minutes=int(meta.get("minutes", 10)),
        creates_topics=tuple(str(t) for t in creates.get("topics", ())),
        creates_groups=tuple(str(g) for g in creates.get("groups", ())),
    )


def _include(base: Path, name: str) -> str:
    target = (base / name).resolve()
    if base.resolve() not in target.parents or not target.is_file():
        return ""
    return target.read_text(encoding="utf-8").strip("\n") + "\n"


@cache
def _load_all(directory: Path) -> tuple[Lesson, ...]:
    lessons = [parse_lesson(p) for p in sorted(directory.glob("[0-9][0-9]-*.md"))]
    return tuple(sorted(lessons, key=lambda lesson: lesson.number))


def all_lessons(directory: Path | None = None) -> tuple[Lesson, ...]:
    """Every lesson, by number."""
    return _load_all(directory or lessons_dir())


def get_lesson(number: int, directory: Path | None = None) -> Lesson:
    """The lesson numbered ``number``; LessonNotFound says which numbers exist."""
    lessons = all_lessons(directory)
    for lesson in lessons:
        if lesson.number == number:
            return lesson
    first, last = lessons[0].number, lessons[-1].number
    raise LessonNotFound(
        f"there is no lesson {number}; lessons are numbered {first} to {last} "
        f"(see: kcli learn list)"
    )
