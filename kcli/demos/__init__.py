"""Live demos for ``kcli demo NAME``: one module per demo, each with ``run(ctx)``.

Every demo uses real sockets, threads, processes and the real store, measures what happens,
and returns (and prints) a short summary of what it showed.
"""
