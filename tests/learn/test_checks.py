"""Each lesson's check refuses the wrong thing, and its advice never makes the state worse.

Every test builds a wrong answer with real kcli commands (the right answer is what the lesson
suite builds) and runs ``kcli learn check N`` on it.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kcli.learn.lessons import fit_command


def _check(kcli, number: int):
    out = kcli("learn", "check", str(number))
    assert "Traceback" not in out.stderr
    return out


def _bash(data_dir, script: str) -> None:
    env = {"PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "KCLI_DATA_DIR": str(data_dir)}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


# -- lesson 2: the replay it teaches ------------------------------------------------------------


def _readings(kcli):
    kcli("topic", "create", "readings")
    kcli("produce", "readings", "t=21.5", "t=21.7", "t=22.0", "t=22.4", "t=22.1")


def test_lesson_2_wants_the_replay_not_only_the_readings(kcli):
    _readings(kcli)
    kcli("consume", "readings")
    out = _check(kcli, 2)
    assert out.returncode == 1
    assert "topic 'replay' does not exist yet" in out.stdout


def test_lesson_2_refuses_a_replay_from_the_wrong_offset(kcli, data_dir):
    _readings(kcli)
    kcli("topic", "create", "replay")
    _bash(data_dir, "kcli consume readings | kcli produce replay")  # from 0, not 2
    out = _check(kcli, 2)
    assert out.returncode == 1
    assert "'readings' from offset 2 is 3 records (t=22.0, t=22.4, t=22.1)" in " ".join(
        out.stdout.split()
    )
    _bash(data_dir, "kcli topic delete replay && kcli topic create replay")
    _bash(data_dir, "kcli consume readings --from-offset 2 | kcli produce replay")
    assert _check(kcli, 2).returncode == 0


# -- lessons 5 and 17: the groups named exactly -------------------------------------------------


@pytest.mark.parametrize(
    ("number", "topic", "groups", "misnamed"),
    [
        (5, "news", ["email", "search"], "archiv"),
        (17, "tasks", ["workers", "auditors"], "late-auditor"),
    ],
)
def test_groups_must_have_the_names_the_lesson_gives(kcli, number, topic, groups, misnamed):
    kcli("topic", "create", topic)
    kcli("produce", topic, "one", "two", "three", "four", "five")
    for group in [*groups, misnamed]:
        assert kcli("consume", topic, "--group", group).returncode == 0
    out = _check(kcli, number)
    assert out.returncode == 1, out.stdout
    wanted = {5: "archive", 17: "late-auditors"}[number]
    text = " ".join(out.stdout.split())
    assert f"consumer group '{wanted}' does not exist yet" in text
    assert misnamed in text  # the groups it did find are named, so the typo shows
    kcli("consume", topic, "--group", wanted)
    assert _check(kcli, number).returncode == 0


# -- lesson 14: not before its exercise ---------------------------------------------------------


def test_lesson_14_does_not_pass_right_after_try_it(kcli, data_dir):
    kcli("topic", "create", "purchases", "--partitions", "4")
    _bash(data_dir, "seq 1 40 | sed 's/^/purchase /' | kcli produce purchases")
    consumers = [
        subprocess.Popen(
            [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "consume", "purchases"]
            + ["--group", "billing", "--follow"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 90
        while True:  # both members in, everything read and committed: "Try it" is done
            out = _check(kcli, 14)
            text = " ".join(out.stdout.split())
            if "has 2 live members" in text and "lag 0" in text:
                break
            assert time.monotonic() < deadline, out.stdout
            time.sleep(1)
        assert out.returncode == 1
        assert "topic 'purchases' has 40 records; the exercise wants at least 52" in text
    finally:
        for proc in consumers:
            proc.terminate()
            proc.wait(30)


# -- lesson 19: the filter is checked -----------------------------------------------------------


def _fleet(kcli, data_dir):
    kcli("topic", "create", "iot-readings", "--partitions", "6")
    kcli("topic", "create", "iot-alerts", "--partitions", "6")
    _bash(
        data_dir,
        'for d in $(seq 1 1000); do echo "device-$d:$(( d * 7 % 50 ))"; done'
        " | kcli produce iot-readings --key-separator :",
    )


def test_lesson_19_refuses_a_filter_that_lets_low_readings_through(kcli, data_dir):
    _fleet(kcli, data_dir)
    _bash(
        data_dir,
        "kcli consume iot-readings --group alerts --format '%k:%s\\n'"
        " | awk -F: '$2 > 40' | kcli produce iot-alerts --key-separator :",
    )
    out = _check(kcli, 19)
    assert out.returncode == 1
    text = " ".join(out.stdout.split())
    assert "readings of 45 or less" in text and "the filter let them through" in text
    assert "kcli learn reset 19" in text


def test_lesson_19_consuming_without_the_pipeline_is_told_to_start_again(kcli, data_dir):
    _fleet(kcli, data_dir)
    _bash(data_dir, "kcli consume iot-readings --group alerts --format '%k %s\\n' | awk '$2 > 45'")
    text = " ".join(_check(kcli, 19).stdout.split())
    assert "'iot-readings' has 80 above 45" in text
    assert "already committed past them" in text and "kcli learn reset 19" in text


# -- advice that never makes the state worse (lessons 7, 8, 18) ---------------------------------


def test_lesson_18_advice_is_never_a_bare_consume(kcli, data_dir):
    kcli("topic", "create", "sales", "--partitions", "2")
    kcli("topic", "create", "receipts", "--partitions", "2")
    _bash(data_dir, "printf 'alice:12.50\\nbob:3.20\\n' | kcli produce sales --key-separator :")
    lagging = " ".join(_check(kcli, 18).stdout.split())
    assert "kcli consume sales --group" not in lagging
    assert "run the pipeline again (kcli learn hint 18 --solution)" in lagging
    # The mistake the advice used to cause: the group reads without writing receipts.
    kcli("consume", "sales", "--group", "receipt-writer")
    stuck = " ".join(_check(kcli, 18).stdout.split())
    assert "kcli consume sales --group" not in stuck
    assert "already committed past them" in stuck and "kcli learn reset 18" in stuck


def test_lesson_7_a_wrong_record_at_the_offset_means_starting_again(kcli):
    kcli("topic", "create", "ledger", "--partitions", "2")
    kcli("produce", "ledger", "--partition", "1", "open account", "deposit 5", "x", "y")
    text = " ".join(_check(kcli, 7).stdout.split())
    assert "is 'y', not 'refund 30'" in text and "kcli learn reset 7" in text


def test_lesson_8_keys_forced_into_a_partition_mean_starting_again(kcli):
    kcli("topic", "create", "carts", "--partitions", "4")
    for key in ("alice", "bob", "carol", "dave"):
        kcli("produce", "carts", "--key", key, "--partition", "0", "a", "b")
    text = " ".join(_check(kcli, 8).stdout.split())
    assert "records never move" in text and "kcli learn reset 8" in text


def test_lesson_8_too_few_partitions_with_keys_is_not_fixed_by_adding_partitions(kcli):
    kcli("topic", "create", "carts", "--partitions", "2")
    kcli("produce", "carts", "--key", "alice", "add book")
    text = " ".join(_check(kcli, 8).stdout.split())
    assert "kcli topic alter" not in text
    assert "adding partitions now would move its keys" in text and "kcli learn reset 8" in text


def test_without_keys_adding_partitions_is_the_advice(kcli):
    kcli("topic", "create", "inventory", "--partitions", "2")
    text = " ".join(_check(kcli, 6).stdout.split())
    assert "kcli topic alter inventory --partitions 4" in text


# -- commands fitted to the terminal ------------------------------------------------------------


def test_fitted_commands_fit_and_read_the_same_to_a_shell():
    long = (
        "$ kcli consume sales --group receipt-writer --format '%k:%s\\n' | awk -F: "
        "'{ printf \"%s:%s + VAT = %.2f\\n\", $1, $2, $2 * 1.2 }' | kcli produce receipts"
    )
    lines = fit_command(long, 78)
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert lines[1].startswith("  | awk")  # split before a pipe where it can
    words = subprocess.run(
        ["bash", "-c", 'printf "%s\\n" ' + "\n".join(lines)[2:].replace("|", "\\|")],
        capture_output=True,
        text=True,
    ).stdout
    expected = subprocess.run(
        ["bash", "-c", 'printf "%s\\n" ' + long[2:].replace("|", "\\|")],
        capture_output=True,
        text=True,
    ).stdout
    assert words == expected
    assert fit_command("$ short", 78) == ["$ short"]
    start = "$ kcli cluster start --config broker.session.timeout.ms=3000 --config a.b.c=500"
    assert fit_command(start, 78) == [
        "$ kcli cluster start --config broker.session.timeout.ms=3000 \\",
        "  --config a.b.c=500",
    ]  # an option stays with its value
    path = "$ export KCLI_DATA_DIR=/" + "x" * 90
    assert fit_command(path, 78) == [path]  # an unsplittable word: splitting would not help
