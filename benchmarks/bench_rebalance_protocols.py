"""Eager, cooperative and consumer-protocol rebalancing: how long partitions go without an owner.

    python benchmarks/bench_rebalance_protocols.py [--members 4] [--partitions 12]
                                                   [--session-timeout-ms 3000] [--rate 0]

Every member is a real process using the Consumer API; it writes a timestamped line for every
partition its rebalance callbacks hand it or take from it (``kcli.demos.rebalance.measure``,
which ``kcli demo rebalance`` runs too).  For each protocol — eager (``sticky``),
cooperative (``cooperative-sticky``, KIP-429) and the consumer protocol (KIP-848: a
``kcli serve`` of the same data directory assigns with ``uniform``, the consumers are
librdkafka's with ``group.protocol=consumer``, the broker's session timeout is
``--session-timeout-ms`` and its heartbeat interval a third of it) — the run starts
``members - 1`` members, then one more joins, then one gets SIGKILL.

It prints, for the join and for the kill, the longest stretch of time any partition had no
owner, separately for the partitions that stayed with their owner (retained: the cooperative
protocol promises 0) and for those that moved; and how long the whole move took (join: from
the newcomer's subscribe(); kill: from the SIGKILL, which the group cannot notice before
``session.timeout.ms``; to the last callback), also as a number of heartbeat intervals
(``session.timeout.ms`` / 3).
A killed member's partitions count as ownerless from the kill.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    from kcli.demos.rebalance import PROTOCOLS, measure
    from storage import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--session-timeout-ms", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=0.0, help="records/s produced meanwhile")
    args = parser.parse_args()
    heartbeat_s = args.session_timeout_ms / 3 / 1000
    print(
        f"{args.members} consumers x {args.partitions} partitions, session.timeout.ms "
        f"{args.session_timeout_ms} (heartbeat every {heartbeat_s:.1f} s); longest time a "
        f"partition had no owner, in seconds"
    )
    print(
        f"{'protocol':<12} {'event':<5} {'retained':>9} {'moved':>7} {'move took':>10} "
        f"{'heartbeats':>11}"
    )
    with tempfile.TemporaryDirectory(prefix="kcli-bench-") as tmp:
        data_dir = Path(tmp)
        store = Store(data_dir)
        for protocol, assignor in PROTOCOLS:
            results = measure(
                store,
                data_dir,
                assignor,
                members=args.members,
                partitions=args.partitions,
                session_ms=args.session_timeout_ms,
                rate=args.rate,
                protocol=protocol,
            )
            for r in results:
                print(
                    f"{protocol:<12} {r.event:<5} {r.retained_pause_s:>9.3f} "
                    f"{r.moved_pause_s:>7.3f} {r.took_s:>10.3f} {r.took_s / heartbeat_s:>11.2f}"
                )
        store.close()


if __name__ == "__main__":
    main()
