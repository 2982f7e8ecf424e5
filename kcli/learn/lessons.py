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
``kcli learn hint``.  A lesson is known by its slug (``what-is-kafka``), which stays when
lessons are inserted and renumbered; its number is only where it stands in the course.  Every ```` ```console ```` block holds commands after a ``$ `` prompt
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
# Heads a command meant for another terminal, above the lines that make kcli work there.
NEW_TERMINAL_NOTE = "# in the new terminal, first:"
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
    # The lesson starts a `kcli cluster` in the data directory (reset deletes it).
    creates_cluster: bool = False

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

    @property
    def id(self) -> str:
        """The lesson's stable name (its file's slug): progress is kept under it, because
        inserting a lesson renumbers the ones after it."""
        return self.slug

    def markdown(self, width: int | None = None, new_terminal: list[str] | None = None) -> str:
        """The lesson as ``kcli learn show`` renders it: hint and solution held back.

        See ``for_learner`` for ``width`` and ``new_terminal``."""
        kept = []
        matches = list(_SECTION.finditer(self.body))
        kept.append(self.body[: matches[0].start()] if matches else self.body)
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(self.body)
            if m.group(1) in HIDDEN_SECTIONS:
                continue
            kept.append(self.body[m.start() : end])
        text = "".join(kept).rstrip() + "\n"
        return f"# {self.number}. {self.title}\n\n{for_learner(text, width, new_terminal)}"

    def hint(self) -> str:
        return for_learner(self.sections().get("Hint", "").strip())

    def solution(self, width: int | None = None, new_terminal: list[str] | None = None) -> str:
        return for_learner(self.sections().get("Solution", "").strip(), width, new_terminal)

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


def for_learner(text: str, width: int | None = None, new_terminal: list[str] | None = None) -> str:
    """Lesson Markdown as a learner sees it.

    The runner's words leave the ```console fences; with ``width``, a command longer than
    that is split with `` \\`` continuations (never wrapped by the terminal, so it still
    works when pasted); with ``new_terminal``, each ``background`` block (a command for
    another terminal) starts with those commands (activate kcli, choose the store).
    """

    def block(m: re.Match) -> str:
        words = m.group("info").strip()
        if not words.startswith("console"):
            return m.group(0)
        opts = _block_options(words[len("console") :])
        lines = m.group("body").splitlines()
        if opts.get("background") and new_terminal:
            lines = [NEW_TERMINAL_NOTE] + [f"$ {command}" for command in new_terminal] + lines
        if width:
            lines = [
                part
                for line in lines
                for part in (fit_command(line, width) if line.startswith("$ ") else [line])
            ]
        # A here-document's lines are shown as they are typed, not behind the shell's "> "
        # prompt: pasted with the prompt, the file would get it too.
        lines = [_unprompted(line) for line in lines]
        return "```console\n" + "".join(line + "\n" for line in lines) + "```"

    return _FENCE.sub(block, text)


def _unprompted(line: str) -> str:
    return line[2:] if line.startswith("> ") else "" if line == ">" else line


def fit_command(line: str, width: int) -> list[str]:
    """A ``$ command`` line split into lines of at most ``width`` characters.

    Splits only at spaces outside quotes, ``$(...)`` and ``{...}``, preferring the space before
    a ``|``, then the space before an option; every line but the last ends with `` \\`` and the next is indented two spaces, so
    the lines pasted into a shell are the same command.  A word longer than a line stays whole.
    """
    if len(line) <= width:
        return [line]
    spaces = _top_level_spaces(line)
    out: list[str] = []
    start, indent = 0, ""
    while len(indent) + len(line) - start > width:
        room = width - len(indent) - 2  # keep room for " \\"
        fitting = [i for i in spaces if start < i and i - start <= room]
        later = [i for i in spaces if i > (fitting[-1] if fitting else len(line))]
        word_after = (later[0] if later else len(line)) - (fitting[-1] + 1 if fitting else 0)
        if not fitting or 2 + word_after > width:
            break  # nothing fits, or the word after the cut would not fit on its own line
        late = [i for i in fitting if i - start > room // 2]
        pipes = [i for i in late if line.startswith("| ", i + 1)]
        # Else before an option, so that an option and its value stay on one line.
        options = [i for i in late if line.startswith("-", i + 1)]
        cut = (pipes or options or fitting)[-1]
        out.append(indent + line[start:cut] + " \\")
        start, indent = cut + 1, "  "
    out.append(indent + line[start:])
    return out


def _top_level_spaces(line: str) -> list[int]:
    """Positions of the spaces a shell splits words at (not in quotes, $(...), {...})."""
    spaces, depth, quote, escaped = [], 0, "", False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth = max(depth - 1, 0)
        elif ch == " " and depth == 0 and i > 2:
            spaces.append(i)
    return spaces


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
        creates_cluster=bool(creates.get("cluster", False)),
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
