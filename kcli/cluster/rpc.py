"""How brokers and the command line talk to the controller: one JSON object per line over TCP
on 127.0.0.1.

Kafka's brokers reach the KRaft controllers with Kafka requests (BrokerRegistration,
BrokerHeartbeat, AlterPartition, CreateTopics, and Fetch of the metadata log).  kcli's
controller answers requests with those names and Kafka's field names, but as JSON lines: a
learner can watch them with ``tcpdump -A``, and the clients a learner uses (kcat, Java,
Python) only ever talk to brokers, which speak Kafka's protocol.  Each request is
``{"api": NAME, ...}``; each answer is one line, with ``error_code`` 0 on success.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

# The largest line either side reads (a metadata fetch of a big cluster's history).
MAX_LINE = 64 << 20


class ControllerUnavailable(Exception):
    """The controller could not be reached or did not answer in time."""


class _StaleConnection(Exception):
    """The controller closed the connection before answering."""


def error_answer(code: int, message: str | None = None) -> dict:
    """A controller answer that failed with Kafka's error ``code``."""
    return {"error_code": int(code), "error_message": message}


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class AsyncControllerClient:
    """One broker's connection to the controller: one request at a time, reconnecting."""

    def __init__(self, host: str, port: int, timeout_s: float, *, port_file: Path | None = None):
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        # Where the controller writes its port: a restarted controller may have had to take
        # another one (its old port was taken meanwhile), so each new connection looks.
        self.port_file = port_file
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def call(self, api: str, timeout_s: float | None = None, **fields) -> dict:
        async with self._lock:
            try:
                async with asyncio.timeout(timeout_s or self.timeout_s):
                    try:
                        return await self._exchange(api, fields)
                    except (ConnectionError, _StaleConnection):
                        # A connection kept from before the controller was restarted fails
                        # on its first use: that says nothing of the controller now.
                        self.close()
                        return await self._exchange(api, fields)
            except (OSError, TimeoutError, ValueError, _StaleConnection) as exc:
                self.close()
                raise ControllerUnavailable(
                    f"controller {self.host}:{self.port}: {type(exc).__name__}: {exc}"
                ) from None

    async def _exchange(self, api: str, fields: dict) -> dict:
        if self._writer is None:
            self.port = self._current_port()
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_LINE
            )
        self._writer.write(encode({"api": api, **fields}))
        await self._writer.drain()
        line = await self._reader.readline()
        if not line:
            raise _StaleConnection("the controller closed the connection")
        return json.loads(line)

    def _current_port(self) -> int:
        if self.port_file is None:
            return self.port
        try:
            return int(json.loads(self.port_file.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.port

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def call(host: str, port: int, api: str, timeout_s: float = 10.0, **fields) -> dict:
    """One request from a blocking caller (the command line)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(encode({"api": api, **fields}))
            with sock.makefile("rb") as f:
                line = f.readline(MAX_LINE)
    except OSError as exc:
        raise ControllerUnavailable(f"controller {host}:{port}: {exc.strerror or exc}") from None
    if not line:
        raise ControllerUnavailable(f"controller {host}:{port} closed the connection")
    return json.loads(line)


async def serve_lines(host: str, port: int, handle) -> asyncio.base_events.Server:
    """Serve ``await handle(request) -> answer`` for every line of every connection."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                try:
                    request = json.loads(line)
                    answer = await handle(request)
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"error_code": 42, "error_message": f"bad request: {exc}"}
                writer.write(encode(answer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, host, port, limit=MAX_LINE)
