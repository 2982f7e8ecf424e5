"""A million stdin lines through a pipe: all stored, in order, in constant memory."""

from __future__ import annotations

import os
import subprocess
import sys

from storage import Store

LINES = 1_000_000
GENERATOR = (
    "import sys\n"
    "w = sys.stdout.buffer\n"
    f"for i in range(0, {LINES}, 10000):\n"
    "    w.write(b''.join(b'event %d from the generator with some payload\\n' % j"
    " for j in range(i, i + 10000)))\n"
)


def test_a_million_lines_stream_in_constant_memory(kcli, data_dir):
    result = kcli("topic", "create", "big", "--partitions", "2")
    assert result.returncode == 0, result.stderr
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    gen = subprocess.Popen([sys.executable, "-c", GENERATOR], stdout=subprocess.PIPE)
    producer = subprocess.Popen(
        kcli.argv("produce", "big"),
        stdin=gen.stdout,
        stderr=subprocess.PIPE,
        env=env,
    )
    gen.stdout.close()
    stderr = producer.stderr.read().decode()
    _, status, usage = os.wait4(producer.pid, 0)
    producer.returncode = os.waitstatus_to_exitcode(status)
    assert gen.wait(timeout=300) == 0
    assert producer.returncode == 0, stderr
    assert f"Produced {LINES:,} records to big" in stderr
    # ~47 MB of input: a process that held it (or its records) would be far above this.
    assert usage.ru_maxrss < 100 * 1024, f"max RSS {usage.ru_maxrss} KiB"
    store = Store(data_dir)
    ends = [store.log("big", p).log_end_offset for p in range(2)]
    assert sum(ends) == LINES
    # Round-robin: line i went to partition (start + i) % 2, in order within each partition.
    first = [store.log("big", p).read_records(0, max_records=3) for p in range(2)]
    numbers = sorted(int(r.value.split()[1]) for rs in first for r in rs)
    assert numbers == [0, 1, 2, 3, 4, 5]
    last = store.log("big", 0).read_records(ends[0] - 1)[0]
    assert last.value.startswith(b"event ")
