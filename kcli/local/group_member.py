"""A consumer's membership in its group: join, heartbeat, rebalance, leave.

The group's state lives in the store (``storage.groups``).  A background thread keeps the
member alive, as librdkafka's does: it heartbeats every ``heartbeat.interval.ms`` and, between
heartbeats, glances at the group's state file every few milliseconds (no lock, and only a
``stat`` unless the file changed) so that a rebalance is noticed at once, and a member that
missed its session timeout is removed as soon as it expires.

The thread never touches the consumer's partitions: ``kcli.local.coordinator`` revokes and
assigns them in the application's thread, and asks :meth:`GroupMember.fetch_allowed` before
every fetch, so a member that has been asked to give its partitions up stops reading them
before anyone else can be given them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from storage.group_protocols import COOPERATIVE, member_protocol
from storage.groups import FencedInstanceId, UnknownMemberId

# How often the thread looks at the group's state between heartbeats.
WATCH_INTERVAL_S = 0.02


class GroupMember:
    """One consumer's membership in one group: join, the heartbeat thread, rejoin, leave
    (used by ``ConsumerCoordinator``)."""

    def __init__(
        self,
        groups,
        group: str,
        *,
        topics: Sequence[str],
        assignors: Sequence[str],
        client_id: str,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        rebalance_timeout_ms: int,
        instance_id: str | None = None,
    ):
        self.groups = groups  # storage.groups.GroupStore
        self.group = group
        self.topics = list(topics)
        self.assignors = list(assignors)
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_s = heartbeat_interval_ms / 1000
        self.rebalance_timeout_ms = rebalance_timeout_ms
        # group.instance.id: a static member (KIP-345) keeps its place across restarts.
        self.instance_id = instance_id
        # Cooperative (KIP-429): keep the partitions while the group rebalances.
        self.cooperative = member_protocol(self.assignors) == COOPERATIVE
        self._mu = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.member_id: str = ""
        # Generation of the assignment the consumer is using (-1: none yet).
        self.generation = -1
        self.assignor = ""
        # Generation the member last (re)joined in: an assignment of a later one is new.
        self._joined_generation = -1
        self._waiting = False
        self._pending: tuple[int, tuple[tuple[str, int], ...]] | None = None
        self._rebalance = False
        self._lost = False
        self._fenced: Exception | None = None
        self._error: Exception | None = None
        self._last_ok = 0.0  # monotonic start time of the last successful join/heartbeat
        self._epoch = 0  # number of (re)joins, to tell stale views apart
        self._next_heartbeat = 0.0

    # -- the application's thread ------------------------------------------------------------

    def start(self) -> None:
        """Join the group and start heartbeating."""
        self._join(owned=())
        self._thread = threading.Thread(
            target=self._run, name=f"kcli-heartbeat-{self.group}", daemon=True
        )
        self._thread.start()

    def fetch_allowed(self) -> bool:
        """True while the member may read its assigned partitions.

        Eager: False once a rebalance asks for them back.  Cooperative: the member keeps reading
        what it owns while the group rebalances.  Either: False once the member was removed,
        and once its last successful heartbeat is a session timeout old (it may have been
        removed already).
        """
        with self._mu:
            if self._lost:
                return False
            if not self.cooperative and (self._rebalance or self._waiting):
                return False
            return (time.monotonic() - self._last_ok) * 1000 < self.session_timeout_ms

    def still_member(self) -> bool:
        """False if this member has been removed from the group; asks the group (a locked
        heartbeat) only when its last heartbeat is a session timeout old."""
        with self._mu:
            if self._lost:
                return False
            if (time.monotonic() - self._last_ok) * 1000 < self.session_timeout_ms:
                return True
        self._heartbeat()
        with self._mu:
            return not self._lost

    def must_revoke(self) -> str | None:
        """ "rebalance", "lost", "fenced" or None: what the consumer must do before reading on
        (a cooperative member told "rebalance" rejoins without revoking)."""
        with self._mu:
            if self._fenced is not None:
                return "fenced"
            if self._lost:
                return "lost"
            if self._rebalance:
                return "rebalance"
        if (time.monotonic() - self._last_ok) * 1000 >= self.session_timeout_ms:
            # The heartbeat thread has not been heard from for a whole session: find out now.
            self._heartbeat()
            with self._mu:
                if self._fenced is not None:
                    return "fenced"
                if self._lost:
                    return "lost"
                if self._rebalance:
                    return "rebalance"
        return None

    def take_error(self) -> Exception | None:
        with self._mu:
            error, self._error = self._error, None
            return error

    def take_fenced(self) -> Exception | None:
        """The FencedInstanceId error once another consumer took this group.instance.id."""
        with self._mu:
            return self._fenced

    def rejoin(self, owned: Sequence[tuple[str, int]] = ()) -> None:
        """Rejoin (as a new member if this one was removed).

        Eager: called once the consumer has revoked all its partitions.  Cooperative: called
        with the partitions the consumer still ``owned``; if the member turns out to have been
        removed meanwhile, it does not rejoin but is marked lost, so that the consumer gives
        those partitions up first (they may belong to another member by now).
        """
        with self._mu:
            lost = self._lost
            if not self.cooperative or lost:
                self.generation = -1
            if lost:
                self.member_id = ""
                owned = ()
        try:
            self._join(owned=owned)
        except FencedInstanceId as exc:
            with self._mu:
                self._fenced = exc
                self._lost = True
        except UnknownMemberId:
            if self.cooperative and owned:
                with self._mu:
                    self._lost = True
                return
            # Removed between the last heartbeat and now: come back as a new member.
            self.member_id = ""
            self.generation = -1
            self._join(owned=())

    def request_rejoin(self) -> None:
        """Cooperative: the consumer revoked partitions; rejoin owning less, which starts the
        follow-up rebalance that hands them to their new owners."""
        with self._mu:
            self._rebalance = True

    def take_assignment(self) -> tuple[int, tuple[tuple[str, int], ...]] | None:
        """The new generation and this member's partitions, once the rebalance completed."""
        with self._mu:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._waiting = False
                self.generation = pending[0]
            return pending

    def update_topics(self, topics: Sequence[str]) -> None:
        """A new subscription: rejoin with it (the group rebalances)."""
        with self._mu:
            self.topics = list(topics)
            self._rebalance = True

    def leave(self) -> None:
        """Stop heartbeating and leave the group cleanly.

        A static member does not leave (as in Kafka's clients): it stays in the group, its
        partitions waiting for it, until it comes back or its session times out.
        """
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.member_id and not self.instance_id and self._fenced is None:
            try:
                self.groups.leave_group(self.group, self.member_id)
            except Exception:  # noqa: BLE001 - leaving is best effort, like LeaveGroup
                pass
        self.member_id = ""

    # -- both threads ------------------------------------------------------------------------

    def _join(self, owned: Sequence[tuple[str, int]] = ()) -> None:
        started = time.monotonic()
        view = self.groups.join_group(
            self.group,
            topics=self.topics,
            assignors=self.assignors,
            client_id=self.client_id,
            member_id=self.member_id,
            session_timeout_ms=self.session_timeout_ms,
            rebalance_timeout_ms=self.rebalance_timeout_ms,
            instance_id=self.instance_id,
            # What a cooperative member owns goes with its subscription (KIP-429).
            owned=list(owned) if self.cooperative else None,
            owned_generation=self.generation,
        )
        with self._mu:
            self._epoch += 1
            self.member_id = view.member_id
            self._last_ok = started
            self._next_heartbeat = started + self.heartbeat_interval_s
            # A join that completed the rebalance already carries the new generation's
            # assignment; otherwise the assignment comes with a later generation.
            if view.assignment is None:
                self._joined_generation = view.generation
            else:
                self._joined_generation = view.generation - 1
            self._waiting = True
            self._rebalance = False
            self._lost = False
            self._pending = None
            self._absorb(view)

    def _heartbeat(self) -> None:
        with self._mu:
            member_id, epoch = self.member_id, self._epoch
        if not member_id:
            return
        started = time.monotonic()
        try:
            view = self.groups.heartbeat(self.group, member_id, self.instance_id)
        except FencedInstanceId as exc:
            with self._mu:
                if epoch == self._epoch:
                    self._fenced = exc
                    self._lost = True
                self._next_heartbeat = started + self.heartbeat_interval_s
            return
        except UnknownMemberId:
            with self._mu:
                if epoch == self._epoch:
                    self._lost = True
                self._next_heartbeat = started + self.heartbeat_interval_s
            return
        with self._mu:
            if epoch == self._epoch:
                self._last_ok = started
            self._next_heartbeat = started + self.heartbeat_interval_s
            self._absorb(view, epoch)

    def _absorb(self, view, epoch: int | None = None) -> None:
        """Take in what a join, heartbeat or peek said (called with ``_mu`` held).

        ``epoch`` is the join count when the view was read: a view read before the latest
        (re)join is stale and would ask for a rebalance that has already been answered.
        """
        if epoch is not None and epoch != self._epoch:
            return
        if view.rejoin_needed:
            self._rebalance = True
        if (
            self._waiting
            and view.assignment is not None
            and view.generation > self._joined_generation
        ):
            self._pending = (view.generation, view.assignment)
            self.assignor = view.assignor

    # -- the heartbeat thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - report to the app, keep heartbeating
                with self._mu:
                    self._error = exc
                self._stop.wait(min(1.0, self.heartbeat_interval_s))

    def _tick(self) -> None:
        with self._mu:
            member_id, epoch = self.member_id, self._epoch
        if not member_id:
            return
        if time.monotonic() >= self._next_heartbeat:
            self._heartbeat()
            return
        view, due = self.groups.peek(self.group, member_id)
        if view is None or due:
            # Gone from the file, or some member is past its timeout: a locked heartbeat
            # does the coordinator's work (or tells us we were removed).
            self._heartbeat()
            return
        with self._mu:
            self._absorb(view, epoch)
