"""A million stdin lines through a pipe: all stored, in order, in constant memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from storage import Store

LINES = 1_000_000
GENERATOR = (
    "import sys\n"
    "w = sys.stdout.buffer\n"
    f"for i in range(0, {LINES}, 10000):\n"
    "    w.write(b''.join(b'event %d from the generator with some payload\\n' % j"
    " for j in range(i, i + 10000)))\n"
)


class PeakMemory(threading.Thread):
    """The peak resident memory of a running process, from /proc/PID/status (VmHWM).

    Not ``wait4``'s ru_maxrss: exec carries the forking parent's peak into it, so a child of a
    big pytest process would report pytest's memory rather than its own.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.kib = 0

    def run(self) -> None:
        status = f"/proc/{self.pid}/status"
        while True:
            try:
                with open(status) as f:
                    text = f.read()
            except (FileNotFoundError, ProcessLookupError):
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
            if "State:\tZ" in text:  # exited, not yet reaped: VmHWM is gone for good
                return
            time.sleep(0.02)


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
    peak = PeakMemory(producer.pid)
    peak.start()
    stderr = producer.stderr.read().decode()
    producer.wait(timeout=300)
    peak.join()
    assert gen.wait(timeout=300) == 0
    assert producer.returncode == 0, stderr
    assert f"Produced {LINES:,} records to big" in stderr
    # ~47 MB of input: a process that held it (or its records) would be far above this.
    assert 0 < peak.kib < 100 * 1024, f"peak RSS {peak.kib} KiB"
    store = Store(data_dir)
    ends = [store.log("big", p).log_end_offset for p in range(2)]
    assert sum(ends) == LINES
    # Round-robin: line i went to partition (start + i) % 2, in order within each partition.
    first = [store.log("big", p).read_records(0, max_records=3) for p in range(2)]
    numbers = sorted(int(r.value.split()[1]) for rs in first for r in rs)
    assert numbers == [0, 1, 2, 3, 4, 5]
    last = store.log("big", 0).read_records(ends[0] - 1)[0]
    assert last.value.startswith(b"event ")
