"""The one translation of `rag.records.Filters`: to a Chroma `where` and to a BM25 mask.

Both sides are generated from the same list of clauses (`clauses`), so dense and lexical
retrieval always admit the same articles. The rules:

- `sources`: the article's source is one of them;
- `doc_ids`: the article is one of them;
- `since` / `until`: the article's publication date is on or after `since` / on or before
  `until` (both bounds inclusive);
- **an undated article is excluded by any date filter** (`since`, `until` or both): a user
  asking for a date window wants articles known to be in it, and an undated article is not.
  (Undated articles are stored with `published_num` = -1, so the date clauses add a lower
  bound of 0 when only `until` is given.)
- `as_of` (what was visible on a date: `query(as_of=...)`, default today): the article was
  published on or before `as_of`, **or is undated**. Undated articles (a user's own notes,
  the seed corpus) have no date that could be after `as_of`, and hiding them from every
  question asked "as of now" would hide them always. So: an explicit date window (`since` /
  `until`, also the window read from "last month" in a question) excludes undated articles;
  `as_of` alone does not. Since undated articles are stored as -1, the clause is a single
  `published_num <= as_of` with no lower bound, identical on both sides.

Several filters combine with AND; an empty `Filters` (or None) admits everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rag.records import Filters
from rag.store.schema import published_number

# (metadata field, Chroma operator, value)
Clause = tuple[str, str, Any]

FILTER_FIELDS = ("doc_id", "source", "published_num")


def clauses(filters: Filters | None) -> list[Clause]:
    """The filter as AND-ed clauses over chunk metadata (`FILTER_FIELDS`)."""
    if filters is None:
        return []
    out: list[Clause] = []
    if filters.sources:
        out.append(("source", "$in", list(filters.sources)))
    if filters.doc_ids:
        out.append(("doc_id", "$in", list(filters.doc_ids)))
    if filters.since or filters.until:
        # undated articles (-1) never pass a date filter
        lowest = published_number(filters.since) if filters.since else 0
        out.append(("published_num", "$gte", lowest))
    if filters.until:
        out.append(("published_num", "$lte", published_number(filters.until)))
    if filters.as_of and not (filters.until and filters.until <= filters.as_of):
        # undated (-1) passes: no lower bound (see the module docstring)
        out.append(("published_num", "$lte", published_number(filters.as_of)))
    return out


def chroma_where(filters: Filters | None, extra: dict[str, Any] | None = None) -> dict | None:
    """The Chroma `where` of a filter (None when it admits everything), AND-ed with `extra`."""
    parts: list[dict[str, Any]] = [{name: {op: value}} for name, op, value in clauses(filters)]
    if extra:
        parts.append(extra)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def mask(filters: Filters | None, columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Boolean mask over rows of metadata `columns` (one array per `FILTER_FIELDS` name) of
    the rows the filter admits; None when it admits everything."""
    found = clauses(filters)
    if not found:
        return None
    n = len(next(iter(columns.values()))) if columns else 0
    out = np.ones(n, dtype=bool)
    for name, op, value in found:
        col = columns[name]
        if op == "$in":
            out &= np.isin(col, value)
        elif op == "$gte":
            out &= col >= value
        elif op == "$lte":
            out &= col <= value
        else:  # pragma: no cover - clauses() emits only the operators above
            raise ValueError(f"unknown filter operator {op}")
    return out
