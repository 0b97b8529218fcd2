"""HTML pages (.html, .htm): the visible story text, metadata from meta tags and JSON-LD."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from ingest.loaders.common import (
    LoadResult,
    Meta,
    as_str,
    first,
    lower_keys,
    make_article,
    require,
    title_from_name,
)
from ingest.loaders.dates import parse_date
from ingest.loaders.reading import decode_text

_DROPPED_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "head", "iframe", "object", "embed",
        "canvas", "nav", "button", "select", "textarea", "input", "title",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
        "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "li", "main", "ol", "p",
        "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_DATE_META = (
    "article:published_time", "og:article:published_time", "datepublished", "date", "pubdate",
    "publishdate", "publish-date", "publish_date", "dc.date", "dc.date.issued", "dcterms.date",
    "dcterms.created", "sailthru.date", "parsely-pub-date",
)  # fmt: skip


class _Marker:
    """Boundary markers in the piece list of `_block_text`."""


_BREAK = _Marker()  # between paragraphs (block elements)
_SPACE = _Marker()  # between table cells


def load_html(data: bytes, rel: str) -> LoadResult:
    soup = BeautifulSoup(decode_text(data, rel), "html.parser")
    page = _index_page(soup)
    meta = _html_meta(page, rel)
    body = _visible_text(soup, page)
    return LoadResult([require(make_article(rel, rel, meta, body, title_from_name(rel)), rel)])


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment (e.g. a JSON record whose body is HTML)."""
    soup = BeautifulSoup(markup, "html.parser")
    return _visible_text(soup, _index_page(soup))


@dataclass
class _Page:
    """The elements that metadata and content selection need, found in one pass over the tree.

    One walk instead of a dozen `find` calls: html.parser pages are slow enough already.
    """

    metas: dict[str, str] = field(default_factory=dict)
    title: Tag | None = None
    h1: Tag | None = None
    canonical: str = ""
    json_ld: list[str] = field(default_factory=list)
    date_tag: Tag | None = None  # [itemprop=datePublished] or <time pubdate>
    articles: list[Tag] = field(default_factory=list)
    main: Tag | None = None


def _index_page(soup: BeautifulSoup) -> _Page:
    page = _Page()
    for tag in soup.descendants:
        if not isinstance(tag, Tag):
            continue
        name = tag.name
        if name == "meta":
            key = tag.get("property") or tag.get("name") or tag.get("itemprop")
            content = tag.get("content")
            if isinstance(key, str) and isinstance(content, str) and content.strip():
                page.metas.setdefault(key.strip().lower(), content.strip())
        elif name == "title" and page.title is None:
            page.title = tag
        elif name == "h1" and page.h1 is None:
            page.h1 = tag
        elif name == "link" and not page.canonical and "canonical" in (tag.get("rel") or ()):
            page.canonical = str(tag.get("href") or "").strip()
        elif name == "script" and str(tag.get("type", "")).strip().lower() == "application/ld+json":
            page.json_ld.append(tag.string or "")
        elif name == "article":
            page.articles.append(tag)
        if page.main is None and (name == "main" or tag.get("role") == "main"):
            page.main = tag
        if page.date_tag is None and (
            tag.get("itemprop") == "datePublished" or (name == "time" and tag.has_attr("pubdate"))
        ):
            page.date_tag = tag
    return page


def _is_hidden(tag: Tag) -> bool:
    """Elements a browser would not show (cheap checks only: no CSS cascade)."""
    if tag.name in _DROPPED_TAGS or tag.has_attr("hidden"):
        return True
    if str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))


def _visible(tag: Tag) -> bool:
    return not any(_is_hidden(t) for t in (tag, *tag.parents) if isinstance(t, Tag))


def _visible_text(soup: BeautifulSoup, page: _Page) -> str:
    """Visible text, one paragraph per block element, from `<article>`/`<main>` when present.

    Of several `<article>`s the longest wins (the story, not the teasers around it); a page
    without them falls back to the whole document.
    """
    texts = sorted((_block_text(t) for t in page.articles if _visible(t)), key=len, reverse=True)
    if texts and texts[0]:
        return texts[0]
    if page.main is not None and _visible(page.main):
        main_text = _block_text(page.main)
        if main_text:
            return main_text
    return _block_text(soup)


def _block_text(root: Tag) -> str:
    """Iterative walk (deep HTML must not hit the recursion limit) collecting text pieces."""
    pieces: list[str | _Marker] = []
    stack: list[PageElement | _Marker] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, _Marker):
            pieces.append(node)
        elif isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, CDATA, doctype
                pieces.append(str(node))
        elif isinstance(node, Tag) and not _is_hidden(node):
            marker = _BREAK if node.name in _BLOCK_TAGS else _SPACE if node.name in _CELLS else None
            if marker is not None:
                pieces.append(marker)
                stack.append(marker)
            stack.extend(reversed(node.contents))
    paragraphs: list[str] = []
    current: list[str] = []
    for piece in [*pieces, _BREAK]:
        if piece is _BREAK:
            paragraph = " ".join("".join(current).split())
            if paragraph:
                paragraphs.append(paragraph)
            current = []
        else:
            current.append(" " if piece is _SPACE else str(piece))
    return "\n\n".join(paragraphs)


def _html_meta(page: _Page, rel: str) -> Meta:
    """Title, site, url, author and date from meta tags, then JSON-LD, then the page itself."""
    metas = page.metas
    ld = _json_ld_article(page.json_ld)
    article_author = metas.get("article:author", "")
    if article_author.startswith(("http://", "https://")):
        article_author = ""  # usually a profile URL, not a name
    published = parse_date(first(metas, _DATE_META), where=rel)
    if published is None:
        published = parse_date(ld.get("datepublished"), where=rel)
    if published is None and page.date_tag is not None:
        tag = page.date_tag
        value = tag.get("datetime") or tag.get("content") or tag.get_text()
        published = parse_date(str(value), where=rel)
    return Meta(
        title=metas.get("og:title")
        or as_str(ld.get("headline"))
        or (as_str(page.title.get_text()) if page.title is not None else "")
        or (as_str(page.h1.get_text(" ")) if page.h1 is not None else ""),
        source=as_str(metas.get("og:site_name") or ld.get("publisher")),
        url=metas.get("og:url") or page.canonical or as_str(ld.get("url")),
        author=as_str(metas.get("author") or article_author or ld.get("author")),
        published=published,
    )


def _json_ld_article(scripts: list[str]) -> dict[str, Any]:
    """The first schema.org *Article object in `<script type="application/ld+json">`, if any."""
    for script in scripts:
        try:
            data = json.loads(script)
        except (ValueError, RecursionError):
            continue
        queue = [data]
        for item in queue:  # breadth-first; the list grows while we walk it
            if isinstance(item, list):
                queue.extend(item)
            elif isinstance(item, dict):
                kinds = item.get("@type", "")
                kinds = kinds if isinstance(kinds, list) else [kinds]
                if any(str(k).endswith(("Article", "BlogPosting")) for k in kinds):
                    return lower_keys(item)
                if isinstance(item.get("@graph"), list):
                    queue.extend(item["@graph"])
    return {}
