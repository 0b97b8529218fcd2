"""RSS 0.9x/1.0/2.0 and Atom feeds → a list of entries (feedparser does the dialects).

Feed XML is untrusted: feedparser only parses the bytes it is given (it fetches nothing here),
and entry links are resolved against the feed URL; the fetcher decides which it may follow.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import feedparser

log = logging.getLogger(__name__)


class FeedError(Exception):
    def __init__(self, url: str, reason: str):
        super().__init__(url, reason)
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class FeedEntry:
    link: str
    title: str = ""
    guid: str = ""
    author: str = ""
    published: dt.date | None = None


@dataclass
class ParsedFeed:
    title: str
    version: str  # feedparser's name of the dialect, e.g. "rss20", "atom10"
    entries: list[FeedEntry] = field(default_factory=list)


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """The entries of a feed; FeedError when the bytes are not an RSS or Atom feed."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers)
    version = parsed.get("version") or ""
    if not version:
        mime = content_type.split(";")[0].strip()
        problem = " ".join(str(parsed.get("bozo_exception") or "").split())
        detail = f"content type {mime}" if mime else problem
        raise FeedError(url, "not an RSS or Atom feed" + (f" ({detail})" if detail else ""))
    if parsed.get("bozo"):
        log.info("%s: feed has errors, read what parsed: %s", url, parsed.get("bozo_exception"))
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in parsed.entries:
        link = _entry_link(raw, url)
        if not link or link in seen:
            continue
        seen.add(link)
        entries.append(
            FeedEntry(
                link=link,
                title=" ".join(str(raw.get("title", "")).split()),
                guid=str(raw.get("id", "") or ""),
                author=" ".join(str(raw.get("author", "")).split()),
                published=_entry_date(raw),
            )
        )
    title = " ".join(str(parsed.feed.get("title", "")).split())
    return ParsedFeed(title=title, version=version, entries=entries)


def _entry_link(raw: feedparser.FeedParserDict, feed_url: str) -> str:
    candidates = [raw.get("link", "")]
    candidates += [
        link.get("href", "")
        for link in raw.get("links", [])
        if link.get("rel", "alternate") == "alternate"
    ]
    guid = raw.get("id", "")
    if raw.get("guidislink") or str(guid).startswith(("http://", "https://")):
        candidates.append(guid)
    links = [_absolute(feed_url, str(c).strip()) for c in candidates if str(c).strip()]
    # Prefer a web link; any other (file:, javascript:) is kept so the fetcher refuses it
    # with a reason the user sees, instead of the entry silently vanishing.
    web = [link for link in links if urlsplit(link).scheme in ("http", "https")]
    return (web or links or [""])[0]


def _absolute(base: str, link: str) -> str:
    return link if urlsplit(link).scheme else urljoin(base, link)


def _entry_date(raw: feedparser.FeedParserDict) -> dt.date | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if isinstance(value, time.struct_time):
            try:
                return dt.date(value.tm_year, value.tm_mon, value.tm_mday)
            except ValueError:
                continue
    return None
