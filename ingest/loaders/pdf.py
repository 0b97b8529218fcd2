"""PDF: the text layer of every page; title and author from the document info when sane."""

from __future__ import annotations

import io
import logging
import re

from ingest.loaders.common import (
    LoadError,
    LoadResult,
    Meta,
    as_str,
    describe,
    make_article,
    title_from_name,
)

logger = logging.getLogger(__name__)

_JUNK_PDF_TITLES = re.compile(r"^(untitled|microsoft word - .*|document\d*)$", re.I)


def load_pdf(data: bytes, rel: str) -> LoadResult:
    """All pages' text joined by blank lines; title/author from the document info if sane."""
    import pypdf  # imported lazily: only corpora with PDFs pay for it

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
    except Exception as exc:  # pypdf raises many types on garbage input
        raise LoadError(rel, f"broken PDF: {describe(exc)}") from None
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # e.g. DependencyError: AES without `cryptography`
            raise LoadError(rel, f"encrypted PDF that cannot be opened: {describe(exc)}") from None
        if not opened:
            raise LoadError(rel, "encrypted PDF, needs a password")
    try:
        pages = list(reader.pages)
    except Exception as exc:  # pypdf raises many types on broken page trees
        raise LoadError(rel, f"broken PDF: {describe(exc)}") from None
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:  # one bad page should not lose the others
            logger.warning("%s: page %d unreadable, skipped: %s", rel, number, describe(exc))
    meta = Meta()
    try:
        info = reader.metadata
    except Exception:  # broken info dict: no metadata, still the text
        info = None
    if info is not None:
        title = as_str(info.title)
        meta.title = "" if _JUNK_PDF_TITLES.match(title) else title
        meta.author = as_str(info.author)
    article = make_article(rel, rel, meta, "\n\n".join(texts), title_from_name(rel))
    if article is None:
        reason = "no article text (a scanned PDF without a text layer?)" if pages else "no pages"
        raise LoadError(rel, reason)
    return LoadResult([article])
