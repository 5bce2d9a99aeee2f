"""Periods, time zones and how times read (pure).

Invoice periods and export dates are calendar months and days in the operator's time
zone (``[operator] timezone``). Stored times are ISO 8601 UTC; documents for people show
them in the operator's zone, written the way a person writes them (``1 Mar 2026``,
``09:05 – 11:05 CET``), with the zone named.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudlease.core.errors import BadValue, LedgerError


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LedgerError(f"config.toml: operator.timezone {name!r} is not a known time zone "
                          "(e.g. UTC, Europe/Berlin, America/New_York)",
                          code="config_invalid") from None


def parse_period(text: str) -> str:
    from cloudlease.core.clock import parse_period as parse  # the one period parser

    return parse(text)


def period_bounds(period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period as [start, end) in UTC: local midnights of the 1st, converted."""
    year, month = int(period[:4]), int(period[5:7])
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(*nxt, 1, tzinfo=tz).astimezone(UTC)
    return start, end


def check_period(period: str, tz: ZoneInfo, now: datetime) -> str:
    """A well-formed period that has begun (the current month is allowed, so far)."""
    period = parse_period(period)
    start, _ = period_bounds(period, tz)
    if start > now:
        raise BadValue(f"period {period} is in the future (it is {local_day(now, tz)} in "
                       f"{tz.key})")
    return period


def local_day(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).date().isoformat()


def last_day(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (first_next - timedelta(days=1)).isoformat()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else iso(when)


def rate_text(rate: Decimal) -> str:
    """A rate without trailing zeros: ``100000.0`` → ``100000``."""
    return format(rate.normalize(), "f")


# -- times for people -----------------------------------------------------------------
def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def zone_name(when: datetime, tz: ZoneInfo) -> str:
    """The zone's abbreviation at ``when`` (CET, EDT, UTC), or its name where the zone has
    no lettered abbreviation (``+03`` becomes ``Europe/Istanbul``)."""
    abbr = when.astimezone(tz).tzname() or ""
    return abbr if abbr.isalpha() else tz.key


def human_day(when: datetime | str, tz: ZoneInfo) -> str:
    """``1 Mar 2026``: the local day."""
    t = parse_iso(when) if isinstance(when, str) else when
    local = t.astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def human_time(when: datetime | str, tz: ZoneInfo) -> str:
    """``1 Mar 2026, 09:05 CET``."""
    t = parse_iso(when) if isinstance(when, str) else when
    return f"{human_day(t, tz)}, {t.astimezone(tz):%H:%M} {zone_name(t, tz)}"


def human_span(start: datetime | str, end: datetime | str, tz: ZoneInfo) -> str:
    """``1 Mar 2026, 09:05 – 11:05 CET``; the day repeats when the span crosses midnight
    and the zone is named at both ends when it changes (a daylight-saving switch)."""
    a = parse_iso(start) if isinstance(start, str) else start
    b = parse_iso(end) if isinstance(end, str) else end
    za, zb = zone_name(a, tz), zone_name(b, tz)
    la, lb = a.astimezone(tz), b.astimezone(tz)
    head = f"{human_day(a, tz)}, {la:%H:%M}" + (f" {za}" if za != zb else "")
    if la.date() == lb.date():
        return f"{head} – {lb:%H:%M} {zb}"
    return f"{head} – {human_day(b, tz)}, {lb:%H:%M} {zb}"


def month_name(period: str) -> str:
    """``March 2026`` for ``2026-03``."""
    return date(int(period[:4]), int(period[5:7]), 1).strftime("%B %Y")
