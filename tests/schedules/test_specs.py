"""Spec and time-zone checks and the next run as computed here (what a schedule shows before the
server's first Nats-Schedule-Next): weekdays in Berlin, across a DST change, @every and @at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bus_schemas.schedules import ScheduleWrite, check_time_zone, cron_fields, every_seconds, spec_kind
from records.schedules import next_cron


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Friday evening -> Monday 08:00 Berlin (CET, UTC+1).
        ("2026-12-04T19:00:00", "2026-12-07T07:00:00"),
        # Monday 06:59:59 UTC is 07:59:59 Berlin -> one second later.
        ("2026-12-07T06:59:59", "2026-12-07T07:00:00"),
        # After the spring change (28 March 2027) 08:00 Berlin is 06:00 UTC.
        ("2027-03-26T08:00:00", "2027-03-29T06:00:00"),
    ],
)
def test_weekdays_at_eight_in_berlin(after: str, expected: str) -> None:
    assert next_cron("0 0 8 * * 1-5", "Europe/Berlin", utc(after)) == utc(expected)


def test_a_local_time_a_dst_change_skips_is_not_a_run() -> None:
    # 02:30 does not exist in Berlin on 28 March 2027: the next 02:30 is the day after (00:30 UTC).
    assert next_cron("0 30 2 * * *", "Europe/Berlin", utc("2027-03-27T12:00:00")) == utc("2027-03-29T00:30:00")


def test_fields_steps_lists_and_sunday_as_seven() -> None:
    seconds, minutes, *_rest, weekdays = cron_fields("*/15 0,30 * * * 7")
    assert seconds == {0, 15, 30, 45} and minutes == {0, 30} and weekdays == {0}
    assert every_seconds("@every 1h30m") == 5400
    assert spec_kind("@at 2027-01-01T08:00:00+01:00") == "at"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "/etc/localtime", "Europe/../Europe/Berlin", "Europe", "\x00"])
def test_a_zone_that_is_not_a_name_is_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        check_time_zone(zone)


def test_spaces_in_a_spec_are_normalised_and_a_zone_kept() -> None:
    write = ScheduleWrite(twin_id="t", session_id="s", message="m", spec=" 0  0 8 * *   1-5 ", time_zone="UTC")
    assert write.spec == "0 0 8 * * 1-5" and write.time_zone == "UTC"
