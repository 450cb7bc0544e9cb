"""Working hours with frozen instants: holidays, overnight, DST, the week's last interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import HoursConfig, WeeklySchedule
from bot.core.hours import WorkingHours, parse_schedule
from bot.core.hours_text import describe_hours, expectation

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def hours(**overrides: object) -> WorkingHours:
    weekly = overrides.pop("weekly", WeeklySchedule())
    config = HoursConfig(weekly=weekly, **overrides)  # type: ignore[arg-type]
    return parse_schedule(config)


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)  # type: ignore[misc]


def test_open_and_closed_on_an_ordinary_week():
    schedule = hours()
    assert schedule.status(msk(2026, 11, 24, 10, 0)).open_now  # Tuesday
    status = schedule.status(msk(2026, 11, 24, 18, 0))  # closing time is exclusive
    assert not status.open_now
    assert status.next_opening is not None
    assert status.next_opening.start == msk(2026, 11, 25, 9, 0)


def test_public_holiday_closes_the_day_and_names_it():
    schedule = hours(country="RU")
    status = schedule.status(msk(2027, 1, 5, 11, 0), "ru")  # a Tuesday in the New Year break
    assert not status.open_now
    assert status.holiday_name == "Новогодние каникулы"
    assert status.next_opening is not None
    assert status.next_opening.start == msk(2027, 1, 11, 9, 0)  # Jan 1-8 off, then a weekend
    assert schedule.status(msk(2027, 1, 5, 11, 0), "en").holiday_name == "New Year Holidays"


def test_manual_extra_holiday():
    schedule = hours(country="", extra_holidays=["2026-11-25"])
    status = schedule.status(msk(2026, 11, 25, 12, 0))
    assert not status.open_now
    assert status.next_opening is not None
    assert status.next_opening.start == msk(2026, 11, 26, 9, 0)


def test_overnight_interval_runs_into_the_next_day():
    weekly = WeeklySchedule(mon=[], tue=[], wed=[], thu=[], fri=["18:00-02:00"], sat=[], sun=[])
    schedule = hours(weekly=weekly, country="")
    saturday_early = schedule.status(msk(2026, 11, 28, 1, 30))
    assert saturday_early.open_now
    assert saturday_early.current is not None
    assert saturday_early.current.end == msk(2026, 11, 28, 2, 0)
    later = schedule.status(msk(2026, 11, 28, 2, 30))
    assert not later.open_now
    assert later.next_opening is not None
    assert later.next_opening.start == msk(2026, 12, 4, 18, 0)


def test_several_intervals_a_day():
    weekly = WeeklySchedule(mon=["09:00-13:00", "14:00-18:00"])
    schedule = hours(weekly=weekly, country="")
    lunch = schedule.status(msk(2026, 11, 23, 13, 30))
    assert not lunch.open_now
    assert lunch.next_opening is not None
    assert lunch.next_opening.start == msk(2026, 11, 23, 14, 0)
    assert len(lunch.today) == 2


def test_daylight_saving_change_keeps_local_hours():
    weekly = WeeklySchedule(sun=["09:00-17:00"], sat=["20:00-04:00"])
    schedule = hours(weekly=weekly, timezone="Europe/Berlin", country="")
    # 07:30 UTC is 09:30 local on the DST Sunday (UTC+2) but 08:30 a week earlier (UTC+1).
    assert schedule.status(datetime(2026, 3, 29, 7, 30, tzinfo=UTC)).open_now
    assert not schedule.status(datetime(2026, 3, 22, 7, 30, tzinfo=UTC)).open_now
    # The Saturday night shift spans the change: 20:00 CET to 04:00 CEST is seven real hours.
    (night,) = schedule.spans_starting_on(datetime(2026, 3, 28).date())
    assert night.end - night.start == timedelta(hours=7)
    assert night.end.astimezone(BERLIN).hour == 4


def test_the_weeks_last_interval_leads_to_monday():
    weekly = WeeklySchedule(sun=["10:00-22:00", "23:00-01:00"])
    schedule = hours(weekly=weekly, country="")
    monday_night = schedule.status(msk(2026, 11, 30, 0, 30))  # Sunday's last interval
    assert monday_night.open_now
    after = schedule.status(msk(2026, 11, 30, 1, 0))
    assert not after.open_now
    assert after.next_opening is not None
    assert after.next_opening.start == msk(2026, 11, 30, 9, 0)


def test_expected_reply_counts_only_open_time_across_weekend_and_holiday():
    schedule = hours(country="", extra_holidays=["2026-11-30"], reply_target_minutes=120)
    # Friday 17:00: one hour today, the rest after the weekend and the Monday holiday.
    assert schedule.expected_reply_by(msk(2026, 11, 27, 17, 0)) == msk(2026, 12, 1, 10, 0)
    assert schedule.expected_reply_by(msk(2026, 11, 24, 10, 0)) == msk(2026, 11, 24, 12, 0)


def test_texts_in_both_languages():
    schedule = hours(country="")
    friday_evening = msk(2026, 11, 27, 20, 0)
    ru = describe_hours(schedule, friday_evening, "ru")
    en = describe_hours(schedule, friday_evening, "en")
    assert ru.splitlines()[:2] == ["Сейчас закрыто.", "Откроемся в понедельник в 09:00."]
    assert en.splitlines()[:2] == ["We are closed now.", "We open on Monday at 09:00."]
    line, by = expectation(schedule, friday_evening, "en")
    assert (
        line == "We are closed now. We open on Monday at 09:00 and will answer by 11:00 on Monday."
    )
    assert by == msk(2026, 11, 30, 11, 0)
    open_line, _ = expectation(schedule, msk(2026, 11, 24, 10, 0), "ru")
    assert open_line == "Мы сейчас работаем, ответим до 12:00 сегодня."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("country", "XX", "unknown country"),
        ("extra_holidays", ["2026-13-01"], "bad date"),
    ],
)
def test_bad_hours_config_is_named(field: str, value: object, message: str):
    with pytest.raises(ValueError, match=message):
        hours(**{field: value})


def test_bad_interval_is_named():
    with pytest.raises(ValueError, match=r"weekly\.mon: bad interval '9-18'"):
        hours(weekly=WeeklySchedule(mon=["9-18"]))
