"""Where a partition's replicas go: Kafka's rack-unaware placement.

As ``AdminUtils.assignReplicasToBrokers`` (rack-unaware branch) with the start index and the
first shift fixed at 0 rather than random, so that a lesson's cluster always looks the same:
the first replica of partition p is broker p mod N (its preferred leader), and the followers
are placed with a shift that grows every N partitions, so that leaders and followers spread
evenly over the brokers.
"""

from __future__ import annotations


def assign_replicas(
    partitions: int, brokers: list[int], replication_factor: int, *, first_partition: int = 0
) -> list[list[int]]:
    """The replica lists of partitions ``first_partition .. first_partition+partitions-1``."""
    n = len(brokers)
    if not 1 <= replication_factor <= n:
        raise ValueError(f"replication factor {replication_factor} needs 1..{n} brokers")
    out = []
    for p in range(first_partition, first_partition + partitions):
        shift = p // n
        first = p % n
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        out.append(replicas)
    return out
