"""Times as users type them for --from-time and --to-datetime."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kcli.errors import KcliError
from kcli.timeparse import parse_duration_ms, parse_time

NOW = 1_714_550_400_000  # 2024-05-01T08:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-10s", NOW - 10_000),
        ("-30m", NOW - 1_800_000),
        ("-1h", NOW - 3_600_000),
        ("-2d", NOW - 2 * 86_400_000),
        ("-1w", NOW - 604_800_000),
        ("-500ms", NOW - 500),
        ("-1h30m", NOW - 5_400_000),
        ("-1.5h", NOW - 5_400_000),
        ("now", NOW),
        ("1714550400123", 1_714_550_400_123),
        ("2024-05-01T08:00:00Z", NOW),
        ("2024-05-01T10:00:00+02:00", NOW),
        ("2024-05-01T08:00:00.250Z", NOW + 250),
    ],
)
def test_forms(text, expected):
    assert parse_time(text, now=NOW) == expected


def test_a_time_without_zone_is_local():
    local = datetime(2024, 5, 1, 8, 0, 0).astimezone()
    assert parse_time("2024-05-01T08:00:00", now=NOW) == int(local.timestamp() * 1000)
    assert parse_time("2024-05-01", now=NOW) == int(
        datetime(2024, 5, 1).astimezone().timestamp() * 1000
    )


@pytest.mark.parametrize("text", ["", "yesterday", "1h", "+1h", "-1y", "--1h", "2024-13-01", "-h"])
def test_bad_forms_say_what_is_valid(text):
    with pytest.raises(KcliError) as info:
        parse_time(text, now=NOW)
    message = str(info.value)
    assert "-1h" in message or "ISO-8601" in message or "-" in message


def test_durations():
    assert parse_duration_ms("90s") == 90_000
    with pytest.raises(KcliError):
        parse_duration_ms("ninety")
    assert datetime.fromtimestamp(NOW / 1000, tz=UTC).hour == 8


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("²", "ISO-8601"),  # a digit to str.isdigit(), not to int()
        ("١٢٣", "ISO-8601"),  # Arabic-Indic digits
        ("0001-01-01T00:00:00", "before 1970-01-01"),
        ("1969-12-31T23:59:59Z", "before 1970-01-01"),
        ("-100000w", "before 1970-01-01"),
        ("99999999999999999999", "after 9999-12-31"),
    ],
)
def test_times_no_record_can_have_are_refused_with_the_range(text, words):
    with pytest.raises(KcliError, match=words):
        parse_time(text, now=NOW)


def test_the_last_millisecond_of_9999_is_accepted():
    assert parse_time("9999-12-31T23:59:59.999Z") == 253_402_300_799_999
