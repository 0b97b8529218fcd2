"""newsrag's question answering: `from rag import query`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.records import Answer, Citation, Filters, Query
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.pipeline import ChatSession, Pipeline


def query(question: Query | str, *, settings: Settings | None = None, **options: Any) -> Answer:
    """Answer a question from the ingested corpus, with citations.

    `question` is a `Query`, or the question's text with `Query`'s fields as keywords:
    `filters` (a `Filters` or a dict such as {"sources": ["BBC"], "since": "2025-01-01"}),
    `history`, `top_k` and `as_of` (a date or "YYYY-MM-DD"; default today: nothing published
    after it is visible (undated articles are), and "last week" in the question means the
    week before it). Bad input raises `ValueError` naming the field.
    The model and store load on first use and are reused by later calls in the process.
    """
    from rag.pipeline import get_pipeline

    asked = Query.of(question, **options)  # bad input fails before any model loads
    return get_pipeline(settings).answer(asked)


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
    "Query",
    "Settings",
    "get_pipeline",
    "query",
]
