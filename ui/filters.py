"""Turn the filter widgets' raw values into a `Filters`, with messages a user can act on.

Dates come from plain textboxes (YYYY-MM-DD): a typo must produce a clear message in the chat,
not a stack trace or a silently ignored filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rag.records import Filters


def parse_date(value: str | None, field: str) -> dt.date | None:
    """An ISO date from a textbox; empty means no bound. Raises ValueError naming the field."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"The {field} date {value!r} is not a date: use YYYY-MM-DD, e.g. 2024-05-31."
        ) from None


def build_filters(
    sources: Sequence[str] | str | None, since: str | None, until: str | None
) -> Filters | None:
    """Filters for the next question, or None when nothing is selected."""
    if isinstance(sources, str):
        sources = [sources]
    chosen = [s for s in (sources or []) if s]
    start = parse_date(since, "'since'")
    end = parse_date(until, "'until'")
    if start and end and start > end:
        raise ValueError(f"The 'since' date {start} is after the 'until' date {end}.")
    filters = Filters(sources=chosen or None, since=start, until=end)
    return None if filters.is_empty() else filters


def parse_as_of(value: str | None) -> dt.date | None:
    """The "As of" textbox: the date to answer as of; empty means now (None)."""
    return parse_date(value, "'as of'")
