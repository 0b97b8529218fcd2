"""Relative time in a question → a date window relative to `as_of`.

The dates themselves are parsed by dateparser (`search_dates` with RELATIVE_BASE = as_of and
PREFER_DATES_FROM = past, `DateDataParser` for the period the phrase names): "yesterday",
"today", "on Monday", "this week", "last week", "last month", "in March" (the most recent March
not after as_of), "last year", "in 2023", "on 12 January 2024". The period becomes the window:

- day → that day; month → that calendar month; year → that calendar year;
- week → that Monday-to-Sunday week, except the week of `as_of` itself ("this week"), which is
  the seven days ending on `as_of` (a news quiz's "this week" means the last seven days, also
  on a Monday);
- every window is clipped at `as_of`; a window wholly after `as_of` is dropped.

dateparser also reads ordinary words as dates ("Who may win?" → May, "now" → today), so a
match counts only when it holds a digit or a space ("in March", "last week") or is "today" /
"yesterday"; "now" and "currently" are present-tense cues (`recency`), not windows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

_SINGLE_WORDS = {"today", "yesterday"}


@dataclass(frozen=True)
class Window:
    since: dt.date
    until: dt.date
    phrase: str  # the words of the question it was read from

    def describe(self) -> str:
        return f"{self.since.isoformat()}..{self.until.isoformat()} ({self.phrase!r})"


def resolve_as_of(as_of: dt.date | dt.datetime | str | None) -> dt.date:
    """The `as_of` date of a query: today when None; an ISO date string is accepted.

    Raises ValueError with a message a user can act on for anything else.
    """
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    text = str(as_of).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        try:
            return dt.datetime.fromisoformat(text).date()
        except ValueError:
            raise ValueError(
                f"as_of {text!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-12"
            ) from None


@functools.lru_cache(maxsize=1)
def _dateparser():  # noqa: ANN202 - imported lazily: dateparser takes ~0.3 s to import
    from dateparser.date import DateDataParser
    from dateparser.search import search_dates

    return search_dates, DateDataParser


def _settings(as_of: dt.date) -> dict:
    return {
        "RELATIVE_BASE": dt.datetime.combine(as_of, dt.time()),
        "PREFER_DATES_FROM": "past",
        "RETURN_TIME_AS_PERIOD": True,
    }


def question_window(question: str, as_of: dt.date) -> Window | None:
    """The date window a question names relative to `as_of`, or None when it names none."""
    search_dates, DateDataParser = _dateparser()
    settings = _settings(as_of)
    try:
        found = search_dates(question, languages=["en"], settings=settings) or []
    except Exception:  # noqa: BLE001 - a parser hiccup must not fail the question
        log.debug("dateparser failed on %r", question, exc_info=True)
        return None
    parser = DateDataParser(languages=["en"], settings=settings)
    for phrase, _ in found:
        words = phrase.strip()
        if not (any(ch.isdigit() for ch in words) or " " in words) and (
            words.lower() not in _SINGLE_WORDS
        ):
            continue
        data = parser.get_date_data(words)
        if data.date_obj is None or data.period not in ("day", "week", "month", "year"):
            continue
        window = _period_window(data.date_obj.date(), data.period, as_of, words)
        if window is not None:
            return window
    return None


def _period_window(day: dt.date, period: str, as_of: dt.date, phrase: str) -> Window | None:
    if period == "day":
        since = until = day
    elif period == "week":
        since = day - dt.timedelta(days=day.weekday())
        until = since + dt.timedelta(days=6)
        if since <= as_of <= until:  # "this week": the seven days ending on as_of
            since, until = as_of - dt.timedelta(days=6), as_of
    elif period == "month":
        since = day.replace(day=1)
        until = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    else:
        since, until = dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    if since > as_of:
        return None
    return Window(since, min(until, as_of), phrase)
