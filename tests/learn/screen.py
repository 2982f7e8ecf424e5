"""What a command leaves on a real terminal screen: run it on a pseudo-terminal of a given size
and replay its output through a terminal emulator (pyte), as a learner's terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pyte


def _env(data_dir: Path, columns: int, lines: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCLI_")}
    env.update(
        KCLI_DATA_DIR=str(data_dir),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        COLUMNS=str(columns),
        LINES=str(lines),
        TERM="xterm-256color",
        PYTHONUNBUFFERED="1",
    )
    env.pop("NO_COLOR", None)
    return env


class Terminal:
    """One command on a ``columns`` x ``lines`` pseudo-terminal, its screen kept by pyte."""

    def __init__(self, command: str, data_dir: Path, columns: int = 80, lines: int = 30):
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()
        self.raw = bytearray()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.proc = subprocess.Popen(
            ["bash", "-c", command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=_env(data_dir, columns, lines),
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self.stream.feed(data)

    def lines(self) -> list[str]:
        """The screen now, one string per row, trailing spaces removed."""
        with self._lock:
            return [row.rstrip() for row in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"never showed {text!r}; screen:\n{self.text()}")
            time.sleep(0.1)
        return self.text()

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            self._reader.join(5)
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass


def run_on_screen(command: str, data_dir: Path, columns: int = 80, lines: int = 30) -> list[str]:
    """Run ``command`` to its end on a terminal; the screen it leaves."""
    term = Terminal(command, data_dir, columns, lines)
    try:
        rc = term.wait(120)
        assert rc == 0, f"{command!r} exited {rc}:\n{term.text()}"
        return term.lines()
    finally:
        term.close()
