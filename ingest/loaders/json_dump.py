"""JSON and JSONL dumps: one article object, a list of them, or one object per line.

A bad or duplicate record is a problem of the dump (`LoadResult.problems`), not a failure of the
file; only a dump without a single usable record raises `LoadError`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingest.loaders import html
from ingest.loaders.common import (
    TEXT_KEYS,
    URL_KEYS,
    LoadError,
    LoadResult,
    describe,
    first,
    lower_keys,
    make_article,
    meta_from_mapping,
    title_from_name,
)
from ingest.loaders.reading import decode_text
from rag.records import Article

logger = logging.getLogger(__name__)

_LIST_KEYS = ("articles", "items", "data")
_HTML_IN_TEXT = re.compile(
    r"</(?:p|div|span|a|em|strong|b|i|h[1-6]|li|ul|ol|blockquote|figure|section|article)\s*>"
    r"|<br\s*/?>|<p(?:\s[^<>]*)?>",
    re.I,
)


@dataclass
class _Record:
    """One record of a dump: where it is, its position, and its value or why it has none."""

    location: str  # "dump.jsonl:17" / "dump.json[3]" — goes into LoadResult.problems
    short: str  # "line 17" / "record 3" — for the all-failed summary
    index: int
    value: Any = None
    error: str = ""


_TOO_DEEP = "malformed JSON: nested too deeply"


def _malformed(exc: json.JSONDecodeError) -> str:
    return f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"


def load_json(data: bytes, rel: str) -> LoadResult:
    """One article object, a list of them, or {"articles"|"items"|"data": [...]}."""
    text = decode_text(data, rel)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several objects: JSON Lines saved as .json
            records = _jsonl_records(text, rel)
            if any(not r.error for r in records):
                logger.info("%s: holds one JSON object per line; read as JSONL", rel)
                return _load_records(records, rel)
        raise LoadError(rel, _malformed(exc)) from None
    except RecursionError:
        raise LoadError(rel, _TOO_DEEP) from None
    return _load_json_value(value, rel)


def _load_json_value(data: Any, rel: str) -> LoadResult:
    records = _json_list(data)
    if records is None:
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise LoadError(rel, f"JSON holds a {kind}, not an article object or a list of them")
        article, reason = _record_article(lower_keys(data), rel, rel, fallback=title_from_name(rel))
        if article is None:
            raise LoadError(rel, reason)
        return LoadResult([article])
    if not records:
        raise LoadError(rel, "no usable article: the JSON list is empty")
    return _load_records(
        [_Record(f"{rel}[{i}]", f"record {i}", i, value) for i, value in enumerate(records)], rel
    )


def _json_list(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
    return None


def load_jsonl(data: bytes, rel: str) -> LoadResult:
    """One object per line; a bad line is a problem, not a failure of the file."""
    text = decode_text(data, rel)
    records = _jsonl_records(text, rel)
    if records and all(r.error for r in records):
        try:  # a pretty-printed JSON document saved as .jsonl
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            pass
        else:
            logger.info("%s: holds a single JSON document; read as JSON", rel)
            return _load_json_value(data, rel)
    return _load_records(records, rel)


def _jsonl_records(text: str, rel: str) -> list[_Record]:
    records: list[_Record] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record = _Record(f"{rel}:{lineno}", f"line {lineno}", len(records))
        try:
            record.value = json.loads(line)
        except json.JSONDecodeError as exc:
            record.error = f"malformed JSON: {exc.msg} at column {exc.colno}"
        except RecursionError:
            record.error = _TOO_DEEP
        records.append(record)
    return records


def _load_records(records: list[_Record], rel: str) -> LoadResult:
    """Articles of a dump; bad or duplicate records become problems; all bad → LoadError."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for record in records:
        reason = record.error
        if not reason and not isinstance(record.value, dict):
            reason = f"not a JSON object but a {type(record.value).__name__}"
        if reason:
            result.problems.append((record.location, reason))
            continue
        fields = lower_keys(record.value)
        doc_id = _record_doc_id(fields, rel, record.index)
        try:
            article, reason = _record_article(fields, doc_id, rel, fallback="")
        except Exception as exc:  # one odd record must not cost the rest of the dump
            article, reason = None, f"unreadable: {describe(exc)}"
        if article is None:
            result.problems.append((record.location, reason))
        elif doc_id in seen:
            result.problems.append(
                (record.location, f"duplicate doc_id {doc_id!r} (first at {seen[doc_id]})")
            )
        else:
            seen[doc_id] = record.location
            result.articles.append(article)
    if not result.articles:
        first = next(r for r in records if r.location == result.problems[0][0])
        count = f"{len(records)} record{'s' if len(records) != 1 else ''}"
        every = "all failed" if len(records) != 1 else "failed"
        raise LoadError(
            rel,
            f"no usable article: {count}, {every} (first: {first.short}: {result.problems[0][1]})",
        )
    for location, reason in result.problems:
        logger.info("%s: record skipped: %s", location, reason)
    return result


def _record_doc_id(fields: Mapping[str, Any], rel: str, index: int) -> str:
    """URL (stable across dumps), else `rel#id`, else `rel#index` (0-based record position)."""
    url = first(fields, URL_KEYS)
    if isinstance(url, str) and url.strip():
        return url.strip()
    record_id = fields.get("id")
    if isinstance(record_id, str | int) and not isinstance(record_id, bool):
        record_id = str(record_id).strip()
        if record_id:
            return f"{rel}#{record_id}"
    return f"{rel}#{index}"


def _record_text(fields: Mapping[str, Any]) -> str | None:
    """The body of a record, None when it has no text field; HTML bodies are reduced to text."""
    for key in TEXT_KEYS:
        value = fields.get(key)
        if isinstance(value, list):  # paragraphs
            value = "\n\n".join(v for v in value if isinstance(v, str))
        if isinstance(value, str) and value.strip():
            return html.html_to_text(value) if _HTML_IN_TEXT.search(value) else value
    return None


def _record_article(
    fields: Mapping[str, Any], doc_id: str, rel: str, *, fallback: str
) -> tuple[Article | None, str]:
    body = _record_text(fields)
    if body is None:
        return None, "no article text (text, body or content field missing or empty)"
    meta = meta_from_mapping(fields, rel)
    article = make_article(doc_id, rel, meta, body, fallback)
    return (article, "") if article is not None else (None, "no article text")
