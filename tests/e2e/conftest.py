"""Every test here runs twice: test[local] on the local store, and test[remote] with the
same commands sent to a Kafka cluster (`kcli serve` on a free port, one per session) through
--bootstrap-server.  Where results differ by design, the test says so with ``kcli.backend``
(see docs/remote.md, "What is the same, and what differs"); a test that needs the local
store itself is marked ``@pytest.mark.local_only(reason)``.  See tests/remote/cluster.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def data_dir(cli_data_dir):
    """The data directory: fresh for [local]; the cluster's own, emptied, for [remote]."""
    return cli_data_dir


@pytest.fixture
def kcli(cli_runner):
    """``kcli(*args)`` on the local store, or on the cluster (``kcli.backend`` says which)."""
    return cli_runner
