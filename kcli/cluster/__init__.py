"""``kcli cluster``: a Kafka cluster of processes on one machine (docs/cluster.md).

One module per concept, named as Kafka names them:

* ``controller`` — the controller process: registrations, heartbeats, fencing, topics,
  AlterPartition, elections; ``metadata`` — its records, its log and the image they build;
* ``broker`` — a broker process: ``kcli serve``'s server with a ``replica_manager``, which
  keeps each hosted ``partition``'s role, high watermark and ISR; ``fetcher`` — followers'
  Fetch and OffsetForLeaderEpoch to their leaders (over ``wire``); ``broker_handlers`` and
  ``group_offsets`` — the requests a cluster broker answers differently from ``kcli serve``;
* ``rpc`` — brokers' and the command line's JSON-lines link to the controller;
* ``launcher`` — starting, stopping, killing and pausing the processes; ``status`` — what
  ``kcli cluster status`` shows; ``elections``, ``profile``, ``placement``, ``config``,
  ``constants``.
"""
