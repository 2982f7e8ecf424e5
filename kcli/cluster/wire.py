"""A minimal asyncio Kafka client for broker-to-broker requests (a follower's Fetch and
OffsetForLeaderEpoch to its leader): one connection, one request at a time, bodies encoded and
decoded by kafka-python's ``kafka.protocol`` as ``kcli serve`` does."""

from __future__ import annotations

import asyncio
import struct

_LENGTH = struct.Struct(">i")


class BrokerUnavailable(Exception):
    """The other broker could not be reached, or closed the connection."""


class BrokerConnection:
    """A connection to one broker (reconnecting on the next request after a failure)."""

    def __init__(self, host: str, port: int, client_id: str, timeout_s: float):
        self.host = host
        self.port = port
        self.client_id = client_id
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._correlation_id = 0

    async def request(self, body, response_class, version: int, timeout_s: float | None = None):
        self._correlation_id += 1
        body.with_header(correlation_id=self._correlation_id, client_id=self.client_id)
        frame = body.encode(version=version, header=True, framed=True)
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                self._writer.write(frame)
                await self._writer.drain()
                (size,) = _LENGTH.unpack(await self._reader.readexactly(4))
                payload = await self._reader.readexactly(size)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise BrokerUnavailable(
                f"broker {self.host}:{self.port}: {exc or type(exc).__name__}"
            ) from None
        response = response_class.decode(payload, version=version, header=True)
        if response.header.correlation_id != self._correlation_id:
            self.close()
            raise BrokerUnavailable(f"broker {self.host}:{self.port}: out-of-order response")
        return response

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
