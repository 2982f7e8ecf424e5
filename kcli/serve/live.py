"""What ``kcli serve`` shows while it runs: a live table on a terminal, log lines otherwise."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from kcli.serve.server import KafkaServer

REFRESH_S = 0.5


def setup_logging(console=None, *, debug: bool = False) -> logging.Handler:
    """Send the server's log lines to the live view's console, or to stderr as plain lines."""
    logger = logging.getLogger("kcli.serve")
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if console is not None:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=console, show_path=False, show_level=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
        )
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    return handler


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class LiveView:
    """A table of connections and groups, redrawn in place twice a second."""

    def __init__(self, server: KafkaServer, console, data_dir: str):
        self.server = server
        self.console = console
        self.data_dir = data_dir
        self._last = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        server = self.server
        stats = server.stats
        now = time.monotonic()
        then, last_in, last_out = self._last
        if now - then >= 1.0:
            self._rates = (
                (stats.records_in - last_in) / (now - then),
                (stats.records_out - last_out) / (now - then),
            )
            self._last = (now, stats.records_in, stats.records_out)
        host, port = server.address()
        header = Text.assemble(
            ("kcli serve", "bold"),
            f"  bootstrap.servers={host}:{port}  data dir {self.data_dir}  up "
            f"{_duration(now - stats.started_at)}\n",
            f"records in {stats.records_in:,} ({self._rates[0]:,.0f}/s)  "
            f"out {stats.records_out:,} ({self._rates[1]:,.0f}/s)  "
            f"requests {stats.requests:,}  connections {len(server.connections)}",
            f"  (closed for bad input: {stats.bad_connections})" if stats.bad_connections else "",
        )
        wide = self.console is None or self.console.width >= 120
        columns = ["Client id", "Address"]
        if wide:
            columns.append("Software")
        columns += ["Requests", "Last request", "Records in", "Records out"]
        if wide:
            columns += ["Bytes in", "Bytes out", "Connected"]
        table = Table(title="Connections", title_justify="left")
        for column in columns:
            numeric = column.startswith(("Requests", "Records", "Bytes", "Connected"))
            table.add_column(column, justify="right" if numeric else "left")
        for conn in list(server.connections.values()):
            cells = {
                "Client id": conn.client_id or "-",
                "Address": conn.peer,
                "Software": conn.software or "-",
                "Requests": f"{conn.requests:,}",
                "Last request": (conn.last_api + (" (waiting)" if conn.waiting else "")) or "-",
                "Records in": f"{conn.records_in:,}",
                "Records out": f"{conn.records_out:,}",
                "Bytes in": _bytes(conn.bytes_in),
                "Bytes out": _bytes(conn.bytes_out),
                "Connected": _duration(now - conn.connected_at),
            }
            table.add_row(*(cells[c] for c in columns))
        parts = [header, table]
        coordinator = server.coordinator
        groups = [g for g in coordinator.groups.values() if g.members] if coordinator else []
        if groups:
            gtable = Table(title="Consumer groups (over the wire)", title_justify="left")
            for column in ("Group", "State", "Generation", "Assignor", "Members"):
                gtable.add_column(column)
            for group in groups:
                gtable.add_row(
                    group.group_id,
                    group.state,
                    str(group.generation),
                    group.protocol or "-",
                    ", ".join(m.client_id or m.member_id for m in group.members.values()),
                )
            parts.append(gtable)
        return Group(*parts)

    async def run(self) -> None:
        from rich.live import Live

        with Live(self.render(), console=self.console, auto_refresh=False) as live:
            try:
                while True:
                    await asyncio.sleep(REFRESH_S)
                    live.update(self.render(), refresh=True)
            except asyncio.CancelledError:
                live.update(self.render(), refresh=True)
                raise
