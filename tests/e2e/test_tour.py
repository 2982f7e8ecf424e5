"""The README's two-minute tour, run as a shell session: the commands and what they print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOUR = r"""
set -e
kcli topic create tweets --partitions 3
kcli produce tweets --key alice "alice: hello" "alice: kafka is a log"
kcli produce tweets --key dave "dave: hi all"
printf 'carol:lunch?\nbob:coffee!\n' | kcli produce tweets --key-separator :
echo "== all"
kcli consume tweets
echo "== p0 from 1"
kcli consume tweets --partition 0 --from-offset 1
echo "== one as json"
kcli consume tweets --partition 0 --from-offset 1 --max-messages 1 -o json
echo "== last of p0"
kcli consume tweets --partition 0 --from-offset -1
echo "== describe"
kcli topic describe tweets -o json
"""


def test_two_minute_tour(tmp_path, kcli, data_dir):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "kcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kcli "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    env["KCLI_DATA_DIR"] = str(data_dir)
    if kcli.backend == "remote":  # the same session, pointed at a cluster once for all
        env["KCLI_BOOTSTRAP_SERVER"] = kcli.global_args[-1]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        ["bash", "-c", TOUR], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    sections = dict(
        (part.split("\n", 1)[0].strip(), part.split("\n", 1)[1])
        for part in result.stdout.split("== ")[1:]
    )
    assert sorted(sections["all"].splitlines()) == sorted(
        ["alice: hello", "alice: kafka is a log", "dave: hi all", "lunch?", "coffee!"]
    )
    # alice and bob hash to partition 0, dave to 1, carol to 2 (Kafka's murmur2).
    assert sections["p0 from 1"] == "alice: kafka is a log\ncoffee!\n"
    (row,) = [json.loads(x) for x in sections["one as json"].splitlines()]
    assert (row["partition"], row["offset"], row["key"], row["value"]) == (
        0,
        1,
        "alice",
        "alice: kafka is a log",
    )
    assert sections["last of p0"] == "coffee!\n"
    desc = json.loads(sections["describe"])
    assert [p["log_end_offset"] for p in desc["partitions"]] == [3, 1, 1]
    assert "Created topic tweets with 3 partitions." in result.stderr
    assert "Produced 2 records to tweets: partition 0 offsets 0..1." in result.stderr
    assert "Produced 1 record to tweets: partition 1 offset 0." in result.stderr
    assert (
        "Produced 2 records to tweets: partition 0 offset 2, partition 2 offset 0." in result.stderr
    )
    assert Path(env["KCLI_DATA_DIR"], "tweets-0", "00000000000000000000.log").stat().st_size > 0
