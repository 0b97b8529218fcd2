"""An article page's main text and metadata (trafilatura; htmldate when the page has no date).

Menus, footers, comments and related-link boxes are left out: trafilatura keeps the article
body. The canonical URL is accepted only on the page's own host (ignoring `www.`), so a page
cannot claim another site's address and overwrite that site's article.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import trafilatura

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MIN_WORDS = 8  # fewer words than this is a stub, a paywall or a page of links, not an article


class ExtractError(Exception):
    def __init__(self, url: str, reason: str):
        super().__init__(url, reason)
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class PageArticle:
    url: str  # canonical URL (or the fetched one)
    title: str
    text: str  # paragraphs separated by blank lines
    author: str = ""
    source: str = ""
    published: dt.date | None = None


def looks_like_html(mime: str, body: bytes) -> bool:
    if mime in HTML_TYPES:
        return True
    if mime and mime not in ("text/plain", "application/octet-stream"):
        return False
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def extract_page(
    body: bytes,
    url: str,
    *,
    mime: str = "text/html",
    charset: str | None = None,
    fallback_date: dt.date | None = None,
    fallback_title: str = "",
    fallback_author: str = "",
) -> PageArticle:
    """The article of an HTML page; ExtractError (url, reason) when there is none."""
    if not looks_like_html(mime, body):
        raise ExtractError(url, f"not an HTML page (content type {mime or 'unknown'})")
    html = _decode(body, charset)
    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            # Dates from markup only: the extensive search guesses from text such as a
            # copyright line ("2025" → 1 January), worse than the feed's own date.
            date_extraction_params={"extensive_search": False, "original_date": True},
            # no deduplicate=True: its cache is process-wide and would drop a page the second
            # time a long-running server fetches it.
        )
    except Exception as exc:  # a parser failure on hostile markup is this page's problem only
        log.debug("trafilatura failed on %s", url, exc_info=True)
        raise ExtractError(url, f"could not parse the page: {type(exc).__name__}") from exc
    meta = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    title = _one_line(meta.get("title")) or fallback_title
    text = _paragraphs(str(meta.get("text") or ""), title)
    if len(text.split()) < MIN_WORDS:
        raise ExtractError(url, "no extractable article text")
    published = _date(meta.get("date")) or _htmldate(html, url) or fallback_date
    return PageArticle(
        url=canonical_url(meta.get("url"), url),
        title=title or _first_words(text),
        text=text,
        author=_one_line(meta.get("author")) or fallback_author,
        source=_one_line(meta.get("sitename")),
        published=published,
    )


def canonical_url(candidate: object, page_url: str) -> str:
    """The page's canonical URL when it is an http(s) URL on the same host, else `page_url`.

    The fragment is dropped either way: it never names a different article.
    """
    page = urlsplit(page_url)
    chosen = page
    if isinstance(candidate, str) and candidate.strip():
        cand = urlsplit(urljoin(page_url, candidate.strip()))
        if cand.scheme in ("http", "https") and _same_site(cand.hostname, page.hostname):
            chosen = cand
    return urlunsplit((chosen.scheme, chosen.netloc.lower(), chosen.path or "/", chosen.query, ""))


def _same_site(a: str | None, b: str | None) -> bool:
    def bare(host: str | None) -> str:
        host = (host or "").lower()
        return host[4:] if host.startswith("www.") else host

    return bool(a) and bare(a) == bare(b)


def _decode(body: bytes, charset: str | None) -> str:
    for encoding in (charset, "utf-8"):
        if not encoding:
            continue
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("cp1252", errors="replace")


def _paragraphs(text: str, title: str) -> str:
    """trafilatura's lines (one per paragraph) → blank-line separated paragraphs, without a
    first line that only repeats the title."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    if lines and title and lines[0].casefold() == title.casefold():
        lines = lines[1:]
    return "\n\n".join(lines)


def _one_line(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _first_words(text: str, limit: int = 80) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _htmldate(html: str, url: str) -> dt.date | None:
    try:
        from htmldate import find_date

        return _date(find_date(html, url=url, original_date=True, extensive_search=False))
    except Exception:  # a date is optional; a failure to find one is not the page's error
        log.debug("htmldate failed on %s", url, exc_info=True)
        return None
