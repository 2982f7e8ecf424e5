"""Demo: a fast producer and a slow consumer over a real TCP socket, then over a kcli topic.

Everything runs for real on this machine: a TCP connection on 127.0.0.1 with small kernel
buffers (``SO_SNDBUF``/``SO_RCVBUF``), a producer thread paced at 1000 messages/s and a
consumer thread paced at 100 messages/s, then the same producer and consumers over a topic
in the store.  The figures in the summary are what was measured.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table

from kcli.demos._common import DemoContext, Pacer, heading, live_view, reset_topic, summary
from storage import ProducerRecord

PRODUCER_RATE = 1000
CONSUMER_RATE = 100
MESSAGE_SIZE = 64
BUFFER_BYTES = 4096  # asked of the kernel; Linux doubles it and applies its minimum
TOPIC = "demo-socket-vs-log"


def _message(i: int) -> bytes:
    return f"event {i:08d}".ljust(MESSAGE_SIZE - 1).encode() + b"\n"


@dataclass
class _Stats:
    sent: int = 0
    received: int = 0
    dropped: int = 0
    waited_s: float = 0.0
    started: float = 0.0
    finished: float = 0.0

    def rate(self) -> float:
        end = self.finished or time.monotonic()
        return self.sent / max(end - self.started, 1e-6)


def _listener(*, listen: bool = True) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
    server.bind(("127.0.0.1", 0))
    if listen:
        server.listen(1)
    return server


def _connect(port: int, *, timeout: float | None = 0.1) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
    client.settimeout(timeout)
    client.connect(("127.0.0.1", port))
    return client


def _recv_message(conn: socket.socket, stop: threading.Event) -> bytes | None:
    """One whole message, or None when the connection closed or the demo stopped."""
    chunks = b""
    while len(chunks) < MESSAGE_SIZE:
        if stop.is_set():
            return None
        try:
            data = conn.recv(MESSAGE_SIZE - len(chunks))
        except TimeoutError:
            continue
        except OSError:
            return None
        if not data:
            return None
        chunks += data
    return chunks


def _slow_reader(server: socket.socket, stats: _Stats, stop: threading.Event, rate: float) -> None:
    server.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
            break
        except TimeoutError:
            continue
    else:
        return
    conn.settimeout(0.1)
    pacer = Pacer(rate)
    with conn:
        while not stop.is_set():
            pacer.wait()
            if _recv_message(conn, stop) is None:
                return
            stats.received += 1


def _table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("")
    table.add_column("producer (wants 1000/s)", justify="right")
    table.add_column("consumer (100/s)", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _against_slow_reader(
    ctx: DemoContext,
    seconds: float,
    title: str,
    text: str,
    *,
    blocking: bool,
    rows: Callable[[_Stats], list[tuple[str, str, str]]],
    plain: Callable[[_Stats], str],
    send: Callable[[socket.socket, _Stats, float], None],
) -> _Stats:
    """Parts 1 and 2: ``send`` produces over a socket, until the deadline, to a slow reader."""
    heading(ctx, title, text)
    stats, stop = _Stats(), threading.Event()
    server = _listener()
    reader = threading.Thread(
        target=_slow_reader, args=(server, stats, stop, CONSUMER_RATE), daemon=True
    )
    reader.start()
    client = _connect(server.getsockname()[1])
    if not blocking:
        client.setblocking(False)

    with live_view(ctx, lambda: _table(rows(stats)), lambda: plain(stats)):
        stats.started = time.monotonic()
        send(client, stats, stats.started + seconds)
        stats.finished = time.monotonic()
        stop.set()
        reader.join()
    client.close()
    server.close()
    return stats


# -- part 1: a blocking sender ---------------------------------------------------------------


def _send_blocking(client: socket.socket, stats: _Stats, deadline: float) -> None:
    pacer = Pacer(PRODUCER_RATE)
    i = 0
    while time.monotonic() < deadline:
        pacer.wait()
        view = memoryview(_message(i))
        while view and time.monotonic() < deadline:
            t = time.monotonic()
            try:
                n = client.send(view)  # blocks (up to the 0.1 s timeout) while full
            except TimeoutError:
                n = 0
            stats.waited_s += time.monotonic() - t
            view = view[n:]
        if view:
            break
        stats.sent += 1
        i += 1


def _blocking(ctx: DemoContext, seconds: float) -> _Stats:
    return _against_slow_reader(
        ctx,
        seconds,
        "1. A blocking socket",
        "The producer sends 64-byte messages at 1000/s; the consumer reads 100/s. Watch the "
        "producer wait in send() once the socket buffers are full.",
        blocking=True,
        rows=lambda stats: [
            ("messages", f"{stats.sent} sent", f"{stats.received} received"),
            ("rate", f"{stats.rate():.0f}/s", ""),
            ("waiting in send()", f"{stats.waited_s:.1f} s", ""),
            ("in the socket buffers", f"{stats.sent - stats.received}", ""),
        ],
        plain=lambda stats: (
            f"sent {stats.sent} ({stats.rate():.0f}/s), received {stats.received}, "
            f"waited {stats.waited_s:.1f} s in send()"
        ),
        send=_send_blocking,
    )


# -- part 2: a sender that must not wait ------------------------------------------------------


def _send_dropping(client: socket.socket, stats: _Stats, deadline: float) -> None:
    pacer = Pacer(PRODUCER_RATE)
    pending = b""  # the unsent tail of a message: it must go before any other
    i = 0
    while time.monotonic() < deadline:
        pacer.wait()
        msg = _message(i)
        i += 1
        if pending:
            try:
                pending = pending[client.send(pending) :]
            except BlockingIOError:
                pass
            if pending:
                stats.dropped += 1
                continue
            stats.sent += 1
        try:
            n = client.send(msg)
        except BlockingIOError:
            stats.dropped += 1
            continue
        if n < len(msg):
            pending = msg[n:]
        else:
            stats.sent += 1


def _non_blocking(ctx: DemoContext, seconds: float) -> _Stats:
    return _against_slow_reader(
        ctx,
        seconds,
        "2. A non-blocking socket",
        "Same rates, but the producer must not wait (think: a sensor, a web request): when the "
        "buffers are full, the message is dropped.",
        blocking=False,
        rows=lambda stats: [
            ("messages", f"{stats.sent} delivered", f"{stats.received} received"),
            ("dropped", f"{stats.dropped}", ""),
        ],
        plain=lambda stats: (
            f"delivered {stats.sent}, dropped {stats.dropped}, received {stats.received}"
        ),
        send=_send_dropping,
    )


# -- part 3: a consumer that starts late -----------------------------------------------------


def _late_reader(ctx: DemoContext, seconds: float) -> tuple[int, int, int]:
    heading(
        ctx,
        "3. A consumer that starts late",
        "The producer starts sending before the consumer is listening, then the consumer "
        "starts and reads everything it can get.",
    )
    server = _listener(listen=False)  # bound, not yet listening: connections are refused
    port = server.getsockname()[1]
    state = {"lost": 0, "sent": 0, "received": 0, "phase": "consumer not started"}
    stop = threading.Event()

    def reader() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                break
            except TimeoutError:
                continue
        else:
            return
        conn.settimeout(0.1)
        with conn:
            while _recv_message(conn, stop) is not None:
                state["received"] += 1

    def render():
        return _table(
            [
                ("", state["phase"], ""),
                ("lost (nobody listening)", str(state["lost"]), ""),
                ("messages", f"{state['sent']} sent", f"{state['received']} received"),
            ]
        )

    def plain():
        return (
            f"{state['phase']}: lost {state['lost']}, sent {state['sent']}, "
            f"received {state['received']}"
        )

    t = threading.Thread(target=reader, daemon=True)
    with live_view(ctx, render, plain):
        pacer = Pacer(PRODUCER_RATE)
        start = time.monotonic()
        client = None
        i = 0
        while time.monotonic() < start + seconds:
            pacer.wait()
            if client is None and time.monotonic() >= start + seconds / 2 and not t.is_alive():
                server.listen(1)
                t.start()
                state["phase"] = "consumer listening"
            if client is None:
                try:
                    client = _connect(port, timeout=1.0)
                except ConnectionRefusedError:
                    state["lost"] += 1
                    i += 1
                    continue
            client.sendall(_message(i))
            state["sent"] += 1
            i += 1
        if client is not None:
            client.close()
        t.join(timeout=5)
        stop.set()
    server.close()
    return state["lost"], state["sent"], state["received"]


# -- part 4: two readers on one connection ----------------------------------------------------


def _two_readers(ctx: DemoContext, count: int) -> tuple[int, int, int]:
    heading(
        ctx,
        "4. Two readers on one connection",
        f"Two consumer threads read the same socket while the producer sends {count} "
        f"messages. Each byte can be read only once.",
    )
    server = _listener()
    got = {"A": 0, "B": 0}
    stop = threading.Event()
    accepted = threading.Event()
    holder: dict[str, socket.socket] = {}

    def accept() -> None:
        conn, _ = server.accept()
        conn.settimeout(0.1)
        holder["conn"] = conn
        accepted.set()

    def read(name: str) -> None:
        accepted.wait()
        conn = holder["conn"]
        while not stop.is_set():
            try:
                data = conn.recv(MESSAGE_SIZE)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            got[name] += data.count(b"\n")
            time.sleep(0.001)  # a little work per read, so both threads get turns

    def render():
        return _table([("messages", f"{count} sent", f"A: {got['A']}  B: {got['B']}")])

    def plain():
        return f"reader A got {got['A']}, reader B got {got['B']} of {count}"

    threads = [threading.Thread(target=accept, daemon=True)] + [
        threading.Thread(target=read, args=(n,), daemon=True) for n in "AB"
    ]
    for t in threads:
        t.start()
    with live_view(ctx, render, plain):
        client = _connect(server.getsockname()[1], timeout=5.0)
        pacer = Pacer(PRODUCER_RATE)
        for i in range(count):
            pacer.wait()
            client.sendall(_message(i))
        client.close()
        deadline = time.monotonic() + 5
        while got["A"] + got["B"] < count and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        for t in threads:
            t.join(timeout=2)
    holder.get("conn") and holder["conn"].close()
    server.close()
    return got["A"], got["B"], count


# -- part 5: the same over a log --------------------------------------------------------------


@dataclass
class _LogStats:
    written: int = 0
    waited_s: float = 0.0
    rate: float = 0.0
    slow: int = 0
    second: int = 0
    late: int = 0
    replay: int = 0


def _log(ctx: DemoContext, seconds: float) -> _LogStats:
    heading(
        ctx,
        "5. The same over a kcli topic",
        f"The producer appends to topic '{TOPIC}' at 1000/s; a slow consumer reads 100/s, a "
        f"second one keeps up, and a late one starts when the producer has finished.",
    )
    store = ctx.store()
    reset_topic(store, TOPIC)
    log = store.log(TOPIC, 0)
    st = _LogStats()
    stop = threading.Event()

    def slow() -> None:
        pacer = Pacer(CONSUMER_RATE)
        while not stop.is_set():
            pacer.wait()
            if log.read_records(st.slow, max_records=1):
                st.slow += 1

    def second() -> None:
        while not stop.is_set():
            records = log.read_records(st.second, max_records=500)
            if records:
                st.second = records[-1].offset + 1
            else:
                time.sleep(0.01)

    def render():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("")
        table.add_column("offset reached", justify="right")
        table.add_column("lag (waiting on disk)", justify="right")
        table.add_row("producer (1000/s)", str(st.written), "")
        for name, pos in (("slow consumer", st.slow), ("second consumer", st.second)):
            table.add_row(name, str(pos), str(st.written - pos))
        table.add_row("late consumer", str(st.late), "not started" if not st.late else "")
        return table

    def plain():
        return (
            f"written {st.written}, slow consumer at {st.slow}, second at {st.second}, "
            f"late at {st.late}"
        )

    threads = [threading.Thread(target=f, daemon=True) for f in (slow, second)]
    for t in threads:
        t.start()
    with live_view(ctx, render, plain):
        start = time.monotonic()
        pacer = Pacer(PRODUCER_RATE / 10)  # ten records per append, a hundred appends/s
        i = 0
        while time.monotonic() < start + seconds:
            pacer.wait()
            batch = [ProducerRecord(value=_message(i + k).rstrip()) for k in range(10)]
            t = time.monotonic()
            log.append_records(batch)
            st.waited_s += time.monotonic() - t
            i += 10
            st.written = i
        st.rate = st.written / (time.monotonic() - start)
        # The late consumer: it starts now, and reads from the first offset.
        offset = log.log_start_offset
        while True:
            records = log.read_records(offset, max_records=2000)
            if not records:
                break
            offset = records[-1].offset + 1
            st.late += len(records)
        deadline = time.monotonic() + 5
        while st.second < st.written and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join()
        # Replay: read it all again, from offset 0.
        st.replay = sum(1 for _ in _all_records(log))
    store.close()
    return st


def _all_records(log):
    offset = log.log_start_offset
    while True:
        records = log.read_records(offset, max_records=2000)
        if not records:
            return
        yield from records
        offset = records[-1].offset + 1


def run(ctx: DemoContext) -> list[str]:
    """Run the five parts; return the summary lines."""
    phase = ctx.duration(5.0, 1.2)
    blocking = _blocking(ctx, phase)
    dropping = _non_blocking(ctx, phase)
    lost, late_sent, late_received = _late_reader(ctx, phase)
    a, b, total = _two_readers(ctx, 200 if ctx.fast else 500)
    log = _log(ctx, phase)
    offered = dropping.sent + dropping.dropped
    lines = [
        f"blocking socket: the producer wanted 1000 msg/s but managed "
        f"{blocking.rate():.0f} msg/s; it waited {blocking.waited_s:.1f} s of "
        f"{blocking.finished - blocking.started:.1f} s in send(), held back by the consumer",
        f"non-blocking socket: {dropping.dropped} of {offered} messages dropped "
        f"({100 * dropping.dropped / max(offered, 1):.0f}%) because the buffers were full",
        f"late reader: {lost} messages sent before it was listening were lost; it got "
        f"{late_received} of the {late_sent} sent after",
        f"two readers on one connection: A got {a}, B got {b} of {total}; neither saw "
        f"every message",
        f"log: the producer wrote {log.written} records at {log.rate:.0f}/s, "
        f"{log.waited_s:.1f} s spent appending; the slow consumer is at offset {log.slow} "
        f"with the rest waiting on disk; the second and the late consumer read "
        f"{log.second} and {log.late} of {log.written}, and a replay from offset 0 read "
        f"{log.replay} again",
    ]
    summary(ctx, lines)
    return lines
