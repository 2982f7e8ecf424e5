"""The asyncio server: connections, framing, limits, dispatch, clean shutdown.

Each connection is served like a Kafka broker serves it: one request at a time, in order (the
client may pipeline; the next frame is read once the previous response is written).  Frames
are checked before anything is allocated for them: a negative length, one over
``socket.request.max.bytes``, a frame that does not arrive whole within
``request.read.timeout.ms``, an unknown API key or an undecodable body closes that connection
with one log line and leaves every other client alone.  The bytes of frames being read and
handled are capped by ``queued.max.request.bytes`` (frames of up to 64 KiB excepted, so that
ordinary requests keep being served); beyond it, large frames wait to be read.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

from kcli.serve.broker import Broker
from kcli.serve.broker_context import BrokerContext
from kcli.serve.config import BrokerConfig
from kcli.serve.coordinator import GroupCoordinator
from kcli.serve.fetch_wait import POLL_INTERVAL_S, AppendWatcher
from kcli.serve.partitions import Partitions
from kcli.serve.pipelining import start_request
from kcli.serve.produce import CloseConnection
from kcli.serve.protocol import (
    API_VERSIONS_KEY,
    APIS,
    METADATA_KEY,
    MIN_REQUEST_BYTES,
    ProtocolError,
    Request,
    UnsupportedVersion,
    decode_request,
    encode_response,
    unsupported_api_versions_response,
)
from kcli.serve.replication import Replication
from kcli.serve.stats import ConnectionStats, ServerStats
from kcli.serve.topic_admin import TopicAdmin
from storage import Store

log = logging.getLogger("kcli.serve")

_LENGTH = struct.Struct(">i")
# How long a stopping server lets in-flight requests finish before closing their connections.
STOP_GRACE_S = 10.0
# Frames are read in pieces of this size, so memory follows the bytes that really arrived.
READ_CHUNK = 1 << 20
# Frames up to this size are not counted against queued.max.request.bytes, so that clients
# sending ordinary requests keep being served while large frames wait for room (memory stays
# bounded by max.connections times this).
SMALL_FRAME = 64 << 10
# APIs whose requests can wait long; while they do, the connection is watched for the
# client going away.  Fetch, JoinGroup, SyncGroup.
_WAITING_APIS = frozenset({1, 11, 14})
DISCONNECT_CHECK_S = 1.0
# Requests of one connection being handled at once: those whose handlers let the next one in
# (acks=all produces waiting for their ISR) and the one being handled.
MAX_IN_FLIGHT = 100


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ByteBudget:
    """At most ``limit`` bytes of requests in memory at once (-1: no limit).

    A frame larger than the whole budget is still let through when nothing else holds any,
    so that the limit never blocks a lone large request forever.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = asyncio.Condition()

    async def acquire(self, n: int) -> None:
        if self.limit < 0:
            return
        async with self._cond:
            await self._cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n

    async def release(self, n: int) -> None:
        if self.limit < 0:
            return
        async with self._cond:
            self.used -= n
            self._cond.notify_all()


class KafkaServer:
    """A one-broker Kafka cluster in front of a kcli store."""

    def __init__(
        self,
        store: Store,
        config: BrokerConfig,
        host: str,
        port: int,
        replication: Replication | None = None,
    ):
        self.store = store
        self.replication = replication
        self.config = config
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self.connections: dict[int, ConnectionStats] = {}
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(
            max_workers=config.num_io_threads, thread_name_prefix="kcli-serve-io"
        )
        self._server: asyncio.base_events.Server | None = None
        self._tasks: dict[int, asyncio.Task] = {}
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._budget: _ByteBudget | None = None
        self.watcher: AppendWatcher | None = None
        self.broker: Broker | None = None
        self.admin: TopicAdmin | None = None
        self.coordinator: GroupCoordinator | None = None
        self._handlers: dict[int, object] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, fn, *args):
        """Run a blocking store call in the I/O thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def address(self) -> tuple[str, int]:
        """The host and port clients are told to connect to (Metadata, FindCoordinator)."""
        advertised = self.config.advertised_address()
        if advertised is not None:
            return advertised
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return host, self.port

    async def start(self) -> None:
        self._stopped = asyncio.Event()
        self._budget = _ByteBudget(self.config.queued_max_request_bytes)
        # A cluster broker's logs are written by this process alone: nothing to poll for.
        poll = None if self.replication is not None else POLL_INTERVAL_S
        self.watcher = AppendWatcher(self._log_end_offsets, poll_interval_s=poll)
        admin_lock = asyncio.Lock()
        self.partitions = Partitions(self.store, num_partitions=self.config.num_partitions)
        context = BrokerContext(
            self.partitions,
            self.config,
            run=self.run,
            watcher=self.watcher,
            stats=self.stats,
            address=self.address,
            is_stopping=lambda: self._stopping,
            cluster_id=self.store.cluster_id,
            log_dir=str(self.store.data_dir),
            admin_lock=admin_lock,
            replication=self.replication,
        )
        self.broker = Broker(context)
        self.admin = TopicAdmin(
            self.store, self.config, run=self.run, watcher=self.watcher, admin_lock=admin_lock
        )
        self.coordinator = GroupCoordinator(
            self.store, self.config, run=self.run, replication=self.replication
        )
        b, a, c = self.broker, self.admin, self.coordinator
        self._handlers = {
            0: b.produce,
            1: b.fetch,
            2: b.list_offsets,
            3: b.metadata,
            8: c.offset_commit,
            9: c.offset_fetch,
            10: b.find_coordinator,
            11: c.join_group,
            12: c.heartbeat,
            13: c.leave_group,
            14: c.sync_group,
            15: c.describe_groups,
            16: c.list_groups,
            18: b.api_versions,
            19: a.create_topics,
            20: a.delete_topics,
            21: b.delete_records,
            22: b.init_producer_id,
            23: b.offset_for_leader_epoch,
            32: a.describe_configs,
            33: a.alter_configs,
            35: b.describe_log_dirs,
            37: a.create_partitions,
            42: c.delete_groups,
            44: a.incremental_alter_configs,
            47: c.offset_delete,
            60: b.describe_cluster,
            68: c.consumer_group_heartbeat,
            69: c.consumer_group_describe,
            75: b.describe_topic_partitions,
        }
        missing = set(APIS) ^ set(self._handlers)
        assert not missing, f"APIs advertised without a handler, or the reverse: {missing}"
        if self.replication is not None:
            self._handlers.update(self.replication.handlers())
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.watcher.start()
        self.coordinator.start()

    async def _log_end_offsets(self, partitions):
        return await self.broker.log_end_offsets(partitions)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        """Begin a clean stop (safe to call from a signal handler, and more than once)."""
        if not self._stopping:
            self._stopping = True
            asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        log.info("stopping: no new connections; finishing requests in progress")
        self._server.close()
        await self.watcher.stop()  # long-polling fetches answer now
        await self.coordinator.stop()  # waiting joins and syncs answer now
        # Connections waiting for their next request are closed at once; those in the middle
        # of one get STOP_GRACE_S to answer it.
        for conn_id, task in list(self._tasks.items()):
            conn = self.connections.get(conn_id)
            if conn is None or not conn.busy:
                task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks.values()), timeout=STOP_GRACE_S)
            for writer in self._writers.values():
                writer.close()
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_GRACE_S)
        # Appends already handed to the pool finish (and fsync) before the pool shuts down.
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._pool.shutdown, wait=True)
        )
        self.store.close()
        self._stopped.set()

    # -- connections ----------------------------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        peername = writer.get_extra_info("peername") or ("?", 0)
        host, port = str(peername[0]), peername[1]
        conn = ConnectionStats(id=next(self._ids), peer=f"{host}:{port}", host=host)
        refusal = self._admit(conn)
        if refusal is not None:
            self.stats.connections_refused += 1
            log.warning("refused connection from %s: %s", conn.peer, refusal)
            writer.close()
            return
        asyncio.get_running_loop().call_later(
            self.config.connection_first_request_timeout_ms / 1000, self._close_if_unused, conn.id
        )
        task = asyncio.current_task()
        self._tasks[conn.id] = task
        self.connections[conn.id] = conn
        self._writers[conn.id] = writer
        self.stats.connections_total += 1
        log.debug("connection %d from %s", conn.id, conn.peer)
        try:
            await self._serve(conn, reader, writer)
        except ProtocolError as exc:
            self.stats.bad_connections += 1
            log.warning("closed connection from %s: %s", conn.label, exc)
        except CloseConnection as exc:
            log.warning("%s", exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to report
        except asyncio.CancelledError:
            pass
        except Exception:
            self.stats.bad_connections += 1
            log.exception("closed connection from %s after an unexpected error", conn.label)
        finally:
            self.connections.pop(conn.id, None)
            self._writers.pop(conn.id, None)
            self._tasks.pop(conn.id, None)
            writer.close()
            log.debug("connection %d from %s closed", conn.id, conn.peer)

    def _admit(self, conn: ConnectionStats) -> str | None:
        """Why a new connection is refused, or None to serve it.

        At a limit, the oldest connection that has not completed a single request is closed to
        make room: a flood of connections that never send anything cannot lock clients out.
        """
        if self._stopping:
            return "stopping"
        same_ip = [c for c in self.connections.values() if c.host == conn.host]
        limits = (
            (self.connections.values(), self.config.max_connections, "max.connections"),
            (same_ip, self.config.max_connections_per_ip, "max.connections.per.ip"),
        )
        for pool, limit, name in limits:
            pool = list(pool)
            if len(pool) < limit:
                continue
            unused = [c for c in pool if c.requests == 0]
            if not unused:
                return f"{name}={limit}"
            oldest = min(unused, key=lambda c: c.connected_at)
            log.warning(
                "closed connection from %s, which sent no request in %.1f s, to admit %s (%s=%d)",
                oldest.peer,
                time.monotonic() - oldest.connected_at,
                conn.peer,
                name,
                limit,
            )
            self._drop(oldest.id)
        return None

    def _close_if_unused(self, conn_id: int) -> None:
        conn = self.connections.get(conn_id)
        if conn is not None and conn.requests == 0:
            log.info(
                "closed connection from %s: no complete request within "
                "connection.first.request.timeout.ms=%d",
                conn.peer,
                self.config.connection_first_request_timeout_ms,
            )
            self._drop(conn_id)

    def _drop(self, conn_id: int) -> None:
        """Close a connection at once and forget it (its task ends on its own)."""
        self.connections.pop(conn_id, None)
        writer = self._writers.pop(conn_id, None)
        task = self._tasks.pop(conn_id, None)
        if writer is not None:
            writer.close()
        if task is not None:
            task.cancel()

    async def _serve(self, conn, reader, writer) -> None:
        """Read the connection's requests one after the other.  A request is handled in its
        own task; the next one is read when it finishes, or earlier when its handler lets the
        next one in (see ``kcli.serve.pipelining``).  Responses are written in request order."""
        idle_s = self.config.connections_max_idle_ms / 1000
        loop = asyncio.get_running_loop()
        in_flight: set[asyncio.Task] = set()
        failed: list[BaseException] = []
        previous: asyncio.Task | None = None

        def finished(task: asyncio.Task) -> None:
            in_flight.discard(task)
            conn.busy = bool(in_flight)
            if not task.cancelled() and task.exception() is not None and not failed:
                # A request that was let go on failed: the connection closes, as it would
                # have had the request been the last one read.
                failed.append(task.exception())
                writer.close()

        try:
            while not self._stopping and not failed:
                if len(in_flight) >= MAX_IN_FLIGHT:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    async with asyncio.timeout(idle_s):
                        first = await reader.read(1)
                except TimeoutError:
                    if in_flight:
                        continue  # not idle: a response is still to come
                    log.info(
                        "closed idle connection from %s (connections.max.idle.ms=%d)",
                        conn.label,
                        self.config.connections_max_idle_ms,
                    )
                    return
                except ConnectionError:
                    if failed:
                        break
                    raise
                if not first:
                    break
                conn.busy = True
                reserved, frame = await self._read_frame(conn, reader, first)
                released = loop.create_future()
                task = loop.create_task(
                    self._request(conn, reader, writer, frame, reserved, previous, released)
                )
                del frame
                in_flight.add(task)
                task.add_done_callback(finished)
                previous = task
                await asyncio.wait({task, released}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()
            if failed:
                raise failed[0]
            if in_flight:
                # The client stopped sending, or the server is stopping: the responses of
                # the requests read are still owed.
                await asyncio.wait(in_flight)
                if failed:
                    raise failed[0]
        finally:
            for task in in_flight:
                task.cancel()

    async def _request(self, conn, reader, writer, frame, reserved, previous, released) -> None:
        """Handle one request and write its response once the previous one's is written."""
        start_request(released)
        try:
            data = await self._handle_frame(conn, reader, writer, frame)
        finally:
            del frame
            await self._budget.release(reserved)
        if previous is not None:
            await previous
        if data is not None:
            await self._write(conn, writer, data)

    async def _read_frame(self, conn, reader, first: bytes) -> tuple[int, bytearray]:
        """Read one length-prefixed frame whose first byte has arrived.

        The length is checked before anything is read, a large frame waits for room in
        queued.max.request.bytes, and its bytes are read as they arrive (memory follows what
        was really sent).  Returns the bytes counted against the budget, and the frame.
        """
        timeout_ms = self.config.request_read_timeout_ms
        reserved = 0
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                head = first + await reader.readexactly(3)
                (size,) = _LENGTH.unpack(head)
                limit = self.config.socket_request_max_bytes
                if size < 0:
                    raise ProtocolError(f"frame length {size} is negative")
                if size > limit:
                    raise ProtocolError(
                        f"frame length {size} is larger than socket.request.max.bytes={limit}"
                    )
                if size < MIN_REQUEST_BYTES:
                    raise ProtocolError(
                        f"frame length {size} is too short for a request header "
                        f"({MIN_REQUEST_BYTES} bytes)"
                    )
                # The whole frame is reserved before it is read: reserving piece by piece
                # would let several large frames each hold part of the budget and all wait.
                if size > SMALL_FRAME:
                    await self._budget.acquire(size)
                    reserved = size
                frame = bytearray()
                while len(frame) < size:
                    chunk = await reader.read(min(READ_CHUNK, size - len(frame)))
                    if not chunk:
                        raise ProtocolError(
                            f"connection closed after {len(frame)} bytes of a {size}-byte frame"
                        )
                    frame += chunk
        except TimeoutError:
            await self._budget.release(reserved)
            raise ProtocolError(
                f"a request frame did not arrive whole within request.read.timeout.ms={timeout_ms}"
            ) from None
        except BaseException:
            await self._budget.release(reserved)
            raise
        conn.bytes_in += size + 4
        self.stats.bytes_in += size + 4
        return reserved, frame

    async def _handle_frame(self, conn: ConnectionStats, reader, writer, frame) -> bytes | None:
        """Decode and dispatch one request; its encoded response (None: no response)."""
        try:
            if len(frame) > SMALL_FRAME:
                # Decoding a large frame takes long enough to stall every other connection:
                # it runs in the thread pool.
                request = await self.run(decode_request, bytes(frame), self.broker.apis)
            else:
                request = decode_request(frame, self.broker.apis)
        except UnsupportedVersion as exc:
            if exc.api.key == API_VERSIONS_KEY:
                # Routine: a client newer than kcli serve starts with its own highest version.
                log.info(
                    "%s: %s; answered UNSUPPORTED_VERSION with the supported versions (v0)",
                    conn.peer,
                    exc,
                )
                return unsupported_api_versions_response(exc.correlation_id)
            raise ProtocolError(str(exc)) from None
        if request.client_id and not conn.client_id:
            conn.client_id = request.client_id
            log.info("client '%s' connected from %s", conn.client_id, conn.peer)
        conn.requests += 1
        conn.by_api[request.name] += 1
        conn.last_api = request.name
        self.stats.requests += 1
        try:
            if request.api.key in _WAITING_APIS:
                response = await self._dispatch_watching(conn, reader, writer, request)
            else:
                response = await self._dispatch(conn, request)
            if response is None:
                data = None
            elif request.size > SMALL_FRAME or request.api.key == METADATA_KEY:
                # Large answers (Metadata's grow with the topics, not the request) are
                # encoded in the pool, so that they do not stall other connections.
                data = await self.run(encode_response, request, response)
            else:
                data = encode_response(request, response)
        except (CloseConnection, ConnectionError):
            raise
        except Exception as exc:
            # A request the codec accepted but that makes no sense (say, a null where a list
            # must be): one line, like any other bad input; the traceback with --debug.
            log.debug("%s v%d failed", request.name, request.version, exc_info=True)
            raise ProtocolError(
                f"its {request.name} v{request.version} request failed: {type(exc).__name__}: {exc}"
            ) from None
        return data

    async def _dispatch_watching(self, conn, reader, writer, request: Request):
        """Dispatch a request that may wait long (a long poll, a rebalance), giving up on it
        if the client goes away meanwhile, so abandoned requests do not pile up."""
        task = asyncio.ensure_future(self._dispatch(conn, request))
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_CHECK_S)
            if done:
                return task.result()
            if reader.at_eof() or writer.is_closing():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                raise ConnectionResetError("the client went away while its request waited")

    async def _dispatch(self, conn: ConnectionStats, request: Request):
        handler = self._handlers[request.api.key]
        return await handler(conn, request)

    async def _write(self, conn: ConnectionStats, writer, data: bytes) -> None:
        # A view: what the socket does not take at once is copied into the transport's
        # buffer once, not first sliced off a large Fetch response as a copy of its own.
        writer.write(memoryview(data))
        conn.bytes_out += len(data)
        self.stats.bytes_out += len(data)
        try:
            async with asyncio.timeout(self.config.connections_max_idle_ms / 1000):
                await writer.drain()
        except TimeoutError:
            raise ProtocolError("the client stopped reading its responses") from None
