"""Publication dates from the many shapes article metadata uses (YAML, JSON, HTML meta tags)."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_DAY_YEAR = re.compile(
    r"\b(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b"
)
_DAY_MONTH_YEAR = re.compile(
    r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>[A-Za-z]{3,9})\.?,?\s+"
    r"(?P<year>\d{4})\b"
)
_ISO_DATE = re.compile(r"\b(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b")


def parse_date(value: Any, *, where: str = "") -> dt.date | None:
    """A publication date from the many shapes metadata uses; None (logged) when unparseable.

    Accepts date/datetime objects (YAML front matter yields them), ISO dates and datetimes (with
    Z or an offset; the date is taken as written, not converted to UTC), "July 22, 2025",
    "22 July 2025", RFC 2822 ("Tue, 22 Jul 2025 10:00:00 +0000") and epoch seconds/milliseconds.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    result: dt.date | None = None
    if isinstance(value, int | float):
        result = _date_from_epoch(float(value))
    elif isinstance(value, str):
        result = _date_from_string(value.strip())
    if result is None:
        logger.debug("%s: unparseable date %r, left empty", where or "metadata", value)
    return result


def _date_from_epoch(seconds: float) -> dt.date | None:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    if not 1e8 < seconds < 1e11:  # 1973..5138: anything else is not a timestamp
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()


def _date_from_string(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    for pattern in (_ISO_DATE, _MONTH_DAY_YEAR, _DAY_MONTH_YEAR):
        match = pattern.search(text)
        if match is None:
            continue
        month_text = match.group("month")
        month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
        if month is None:
            continue
        try:
            return dt.date(int(match.group("year")), month, int(match.group("day")))
        except ValueError:
            continue
    return None
