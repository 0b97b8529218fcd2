"""What every format loader shares: the error and result types, metadata coercion, titles.

A file that yields nothing usable raises `LoadError` (path + a short human reason) so the run can
report it and go on; records skipped inside a multi-article dump (JSON list, JSONL) are returned
as `LoadResult.problems` instead, because the rest of the dump is still good.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.loaders.dates import parse_date
from rag.records import Article, normalize_text


class LoadError(Exception):
    """A whole file is unusable; `path` is corpus-relative (POSIX), `reason` one short sentence."""

    def __init__(self, path: str, reason: str):
        # Passing both to Exception keeps the error picklable (e.g. across a process pool).
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadResult:
    """The articles of one file, plus the records skipped inside it as (location, reason)."""

    articles: list[Article] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


# A format's loader: the file's bytes and its corpus-relative name → its article(s).
# Raises LoadError when the file yields nothing usable.
Loader = Callable[[bytes, str], LoadResult]


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------

TITLE_KEYS = ("title", "headline")
SOURCE_KEYS = ("source", "publisher", "site", "site_name")
URL_KEYS = ("url", "link")
AUTHOR_KEYS = ("author", "authors", "byline")
DATE_KEYS = ("published", "published_at", "date", "datepublished", "publish_date", "pubdate")
TEXT_KEYS = ("text", "body", "content", "article", "articlebody")


@dataclass
class Meta:
    title: str = ""
    source: str = ""
    url: str = ""
    author: str = ""
    published: dt.date | None = None


def as_str(value: Any) -> str:
    """A metadata value as one line: lists joined ("A, B"), {"name": …} objects unwrapped."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int | float | dt.date):
        return str(value)
    if isinstance(value, Mapping):
        return as_str(value.get("name"))
    if isinstance(value, list | tuple):
        return ", ".join(s for s in (as_str(v) for v in value) if s)
    return ""


def lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        out.setdefault(str(key).strip().lower(), value)
    return out


def first(mapping: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def meta_from_mapping(mapping: Mapping[str, Any], where: str) -> Meta:
    """Front matter or a JSON record (keys already lower-cased) to metadata."""
    return Meta(
        title=as_str(first(mapping, TITLE_KEYS)),
        source=as_str(first(mapping, SOURCE_KEYS)),
        url=as_str(first(mapping, URL_KEYS)),
        author=as_str(first(mapping, AUTHOR_KEYS)),
        published=parse_date(first(mapping, DATE_KEYS), where=where),
    )


def title_from_name(rel: str) -> str:
    """`news/uk-openai-partnership.txt` → "Uk openai partnership": readable, never empty."""
    name = rel.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    words = " ".join(re.sub(r"[-_]+", " ", stem).split())
    if not words:
        return name
    return words[0].upper() + words[1:]


def _title_from_text(text: str, limit: int = 80) -> str:
    """First line of a record's text, cut at a word: a dump record without a title."""
    line = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,;:") + "…"


def make_article(doc_id: str, rel: str, meta: Meta, body: str, fallback: str) -> Article | None:
    """The Article, or None when the body has no text after normalization."""
    text = normalize_text(body)
    if not text:
        return None
    return Article(
        doc_id=doc_id,
        title=" ".join(meta.title.split()) or fallback or _title_from_text(text),
        text=text,
        source=meta.source,
        url=meta.url.strip(),
        author=meta.author,
        published=meta.published,
        path=rel,
    )


def require(article: Article | None, rel: str) -> Article:
    if article is None:
        raise LoadError(rel, "no article text")
    return article
