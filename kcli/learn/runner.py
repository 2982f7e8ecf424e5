"""Run a lesson's commands as a learner would, and compare what they print with the lesson.

The test suite uses this to keep every lesson true: each ```console command runs in ``bash``
on a pseudo-terminal 80 columns wide (so commands render exactly as in a learner's terminal),
with ``KCLI_DATA_DIR`` pointing at a throw-away store.  Commands in a ``background`` block are
started and left running, like a consumer in a second terminal, and stopped with Ctrl-C
(SIGINT) at the end.

Output is compared loosely, as a reader compares it: colours are dropped, runs of spaces count
as one, each line the lesson shows must appear within a line of the output, in the lesson's
order (other lines may come between, and table borders around), and ``...`` inside a line
stands for any text.  A lesson showing an ``Error:`` line expects the
command to fail; otherwise the command must exit 0.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kcli.learn.lessons import Lesson, Step

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>]"
)
WIDTH = 80
HEIGHT = 30


def normalize(text: str) -> list[str]:
    """Terminal output as the lines a reader sees: no colours, single spaces, no blank lines."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        line = line.rsplit("\r", 1)[-1]  # a redrawn line shows its last version
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in " ".join(expected.split()).split("...")]
    return re.compile(".*".join(parts))


def match_output(expected: tuple[str, ...] | list[str], actual: list[str]) -> str | None:
    """None when every expected line appears in ``actual`` in order; else what is missing."""
    i = 0
    for want in expected:
        if not want.strip() or want.strip() == "...":
            continue
        pat = _pattern(want)
        while i < len(actual) and not pat.search(actual[i]):
            i += 1
        if i == len(actual):
            return f"expected line not found (in order): {' '.join(want.split())!r}"
        i += 1
    return None


@dataclass
class StepResult:
    """What one command printed and whether it matched the lesson."""

    step: Step
    output: str
    returncode: int | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Background:
    step: Step
    proc: subprocess.Popen
    master: int
    chunks: list[bytes] = field(default_factory=list)
    reader: threading.Thread | None = None

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def _open_pty() -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    return master, slave


def _drain(master: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            return
        if not data:
            return
        chunks.append(data)


class LessonRunner:
    """Runs lessons' commands against one data directory, in one working directory."""

    def __init__(
        self,
        data_dir: Path,
        cwd: Path,
        *,
        timeout: float = 240.0,
        wait_timeout: float = 60.0,
        extra_env: dict[str, str] | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.cwd = Path(cwd)
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.background: list[_Background] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("KCLI_")}
        bindir = str(Path(sys.executable).parent)
        env.update(
            KCLI_DATA_DIR=str(self.data_dir),
            PATH=bindir + os.pathsep + env.get("PATH", ""),
            COLUMNS=str(WIDTH),
            LINES=str(HEIGHT),
            TERM="xterm-256color",
            PAGER="cat",
            KCLI_PAGER="cat",
            KCLI_DEMO_FAST="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("NO_COLOR", None)
        env.update(extra_env or {})
        self.env = env

    # -- one command --------------------------------------------------------------------------

    def _spawn(self, command: str) -> tuple[subprocess.Popen, int]:
        master, slave = _open_pty()
        try:
            proc = subprocess.Popen(
                ["bash", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=slave,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # its own process group: Ctrl-C reaches the pipeline
            )
        finally:
            os.close(slave)
        return proc, master

    def run_once(self, step: Step) -> StepResult:
        proc, master = self._spawn(step.command)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(master, chunks), daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            reader.join(5)
            os.close(master)
            out = b"".join(chunks).decode("utf-8", errors="replace")
            return StepResult(step, out, None, f"did not finish within {self.timeout:.0f} s")
        reader.join(10)
        os.close(master)
        out = b"".join(chunks).decode("utf-8", errors="replace")
        return StepResult(step, out, rc, self._judge(step, out, rc))

    @staticmethod
    def _judge(step: Step, out: str, rc: int | None) -> str | None:
        expects_error = any(line.lstrip().startswith("Error:") for line in step.expected)
        if expects_error and rc == 0:
            return "the lesson shows an error but the command succeeded"
        if not expects_error and rc != 0:
            return f"exit code {rc}"
        if step.check_output:
            return match_output(step.expected, normalize(out))
        return None

    def run_step(self, step: Step) -> StepResult:
        if step.background:
            return self._start_background(step)
        result = self.run_once(step)
        if step.retry:
            deadline = time.monotonic() + self.wait_timeout
            while not result.ok and time.monotonic() < deadline:
                time.sleep(0.5)
                result = self.run_once(step)
        return result

    # -- background commands ------------------------------------------------------------------

    def _start_background(self, step: Step) -> StepResult:
        proc, master = self._spawn(step.command)
        bg = _Background(step, proc, master)
        bg.reader = threading.Thread(target=_drain, args=(master, bg.chunks), daemon=True)
        bg.reader.start()
        self.background.append(bg)
        if step.wait_for:
            deadline = time.monotonic() + self.wait_timeout
            while step.wait_for not in _ANSI.sub("", bg.text()):
                if proc.poll() is not None:
                    return StepResult(
                        step, bg.text(), proc.returncode, "background command exited early"
                    )
                if time.monotonic() > deadline:
                    return StepResult(step, bg.text(), None, f"never printed {step.wait_for!r}")
                time.sleep(0.1)
        elif proc.poll() is not None and proc.returncode != 0:
            return StepResult(step, bg.text(), proc.returncode, "background command failed")
        return StepResult(step, bg.text(), None)

    def stop_background(self) -> list[StepResult]:
        """Ctrl-C every background command, as a learner would; report how each ended."""
        results = []
        for bg in self.background:
            if bg.proc.poll() is None:
                try:
                    os.killpg(bg.proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            try:
                rc = bg.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _stop_group(bg.proc)
                rc = None
            if bg.reader is not None:
                bg.reader.join(5)
            os.close(bg.master)
            problem = None
            # 130 is bash's own status after SIGINT; the kcli process inside exits cleanly.
            if rc not in (0, 130, -signal.SIGINT):
                problem = f"stopped with exit code {rc}"
            if problem is None and bg.step.check_output:
                problem = match_output(bg.step.expected, normalize(bg.text()))
            results.append(StepResult(bg.step, bg.text(), rc, problem))
        self.background.clear()
        return results

    # -- the commands as the learner sees them ------------------------------------------------

    def capture(self, command: str) -> str:
        """What ``command`` prints on the runner's 80-column terminal."""
        return self.run_once(Step(command, (), "", check_output=False)).output

    def pasted_steps(self, lesson: Lesson) -> tuple[list[Step], str | None]:
        """The lesson's steps with each command as copied from ``kcli learn show`` and
        ``kcli learn hint --solution`` on an 80-column terminal.

        A command for another terminal (a ``background`` step) is preceded on screen by the
        commands that make kcli and the store available there; they become part of it, as a
        learner types them all in the new terminal.  Returns the steps and, when a command on
        screen differs from the lesson's own, what differs.
        """
        shown = pasted_commands(self.capture(f"kcli learn show {lesson.number} --no-pager"))
        solution = pasted_commands(self.capture(f"kcli learn hint {lesson.number} --solution"))
        sources = {False: iter(shown), True: iter(solution)}
        steps: list[Step] = []
        for step in lesson.steps():
            source = sources[step.section == "Solution"]
            before: list[str] = []
            for pasted in source:
                if unfold(pasted) == step.command:
                    break
                if not step.background:
                    return steps, (
                        f"on screen at {WIDTH} columns the command reads {pasted!r}; the "
                        f"lesson has {step.command!r}"
                    )
                before.append(pasted)
            else:
                return steps, f"the command {step.command!r} is not on screen"
            if step.background and not before:
                return steps, f"nothing says how to start a new terminal for {step.command!r}"
            steps.append(replace(step, command="\n".join([*before, pasted])))
        return steps, None

    # -- a whole lesson -----------------------------------------------------------------------

    def run_lesson(self, lesson: Lesson, steps: list[Step] | None = None) -> list[StepResult]:
        """Run every command of the lesson (or ``steps``) in order; stop at the first that
        goes wrong.

        Background commands are left running so the caller can check the store while they
        run; call ``stop_background`` afterwards.
        """
        results = []
        for step in lesson.steps() if steps is None else steps:
            result = self.run_step(step)
            results.append(result)
            if not result.ok:
                break
        return results


# -- commands as a learner copies them from the screen -------------------------------------------


def pasted_commands(rendered: str) -> list[str]:
    """Every command in rendered lesson output, as a learner would copy it from the screen.

    A command starts at a ``$ `` line; a line ending in `` \\`` continues on the next one (as
    in a shell), and a ``<<'WORD'`` here-document runs to the line ``WORD``.  The text is taken
    as the terminal shows it, so a command the terminal wrapped comes out broken, as it would
    for the learner.
    """
    commands: list[str] = []
    current: list[str] | None = None
    pad = 0
    continued = False
    heredoc: str | None = None
    for raw in _ANSI.sub("", rendered).replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        stripped = line.lstrip()
        if current is not None and heredoc is not None:
            current.append(line[pad:])
            if stripped == heredoc:
                heredoc = None
            continue
        if current is not None and continued:
            current.append(stripped)
            continued = line.endswith(" \\")
            heredoc = _heredoc_word(stripped)
            continue
        if current is not None:
            commands.append("\n".join(current))
            current = None
        if stripped.startswith("$ "):
            pad = len(line) - len(stripped)
            current = [stripped[2:]]
            continued = line.endswith(" \\")
            heredoc = _heredoc_word(stripped)
    if current is not None:
        commands.append("\n".join(current))
    return commands


def _heredoc_word(line: str) -> str | None:
    m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?\s*$", line)
    return m.group(1) if m else None


def unfold(command: str) -> str:
    """A pasted command with its `` \\`` line continuations joined, as the shell reads it."""
    return re.sub(r" \\\n\s*", " ", command)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def describe_failure(result: StepResult) -> str:
    """A readable report of a failed step for a test's assertion message."""
    shown = "\n".join(normalize(result.output)[-40:])
    return (
        f"[{result.step.section}] $ {result.step.command}\n"
        f"problem: {result.problem}\nexpected:\n  "
        + "\n  ".join(result.step.expected)
        + f"\ngot (normalized):\n{shown}"
    )
