"""newsrag's question answering: `from rag import query`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from rag.models import Answer, Citation, Filters
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.pipeline import ChatSession, Pipeline


def query(
    question: str,
    *,
    filters: Filters | dict | None = None,
    history: list[tuple[str, str]] | None = None,
    top_k: int | None = None,
    settings: Settings | None = None,
    as_of: dt.date | str | None = None,
) -> Answer:
    """Answer a question from the ingested corpus, with citations.

    `filters` may be a `Filters` or a dict such as {"sources": ["BBC"], "since": "2025-01-01"}.
    `as_of` (a date or "YYYY-MM-DD"; default today) answers as of that date: nothing published
    after it is visible (undated articles are), and "last week" in the question means the
    week before it.
    The model and store load on first use and are reused by later calls in the process.
    """
    from rag.pipeline import get_pipeline

    if isinstance(filters, dict):
        filters = Filters.model_validate(filters)
    return get_pipeline(settings).answer(
        question, filters=filters, history=history, top_k=top_k, as_of=as_of
    )


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    from rag.pipeline import get_pipeline as _get

    return _get(settings)


def __getattr__(name: str):  # lazy: importing rag must not load torch
    if name in ("ChatSession", "Pipeline"):
        from rag import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)


__all__ = [
    "Answer",
    "ChatSession",
    "Citation",
    "Filters",
    "Pipeline",
    "Settings",
    "get_pipeline",
    "query",
]
