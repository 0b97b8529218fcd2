"""Fetched articles become ordinary corpus files: `web/<host>/<slug>.md` with YAML front matter.

The corpus folder stays the one source of truth: ingest, delete and re-ingest treat these files
like any other. A file is rewritten only when its bytes would change, so an unchanged article
costs the ingest pipeline a hash and no embedding.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ingest.feeds.extract import PageArticle

WEB_DIR = "web"
_SLUG_MAX = 80

# Characters the corpus Markdown loader would read as markup; escaped with a backslash, which
# the loader removes again, so the loaded text is exactly the extracted text.
_INLINE_SPECIAL = re.compile(r"([\\*_\[\]<~])")
_LINE_START_SPECIAL = re.compile(r"^(\s*)([#>=\-]|`(?=``))")


def host_dir(url: str) -> str:
    """`https://www.Example.org:8443/x` → `www.example.org-8443`: one folder per site."""
    parts = urlsplit(url)
    host = (parts.hostname or "unknown").lower()
    host = re.sub(r"[^a-z0-9.-]+", "-", host).strip(".-") or "unknown"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port and parts.port != default:
        host += f"-{parts.port}"
    return host


def slug_for(url: str) -> str:
    """A readable file name from the URL path; a short hash keeps distinct URLs distinct when
    the readable part had to be cut or the URL has a query."""
    parts = urlsplit(url)
    path = re.sub(r"\.(s?html?|php|aspx?)$", "", parts.path.lower())
    words = re.sub(r"[^a-z0-9]+", "-", path).strip("-")
    needs_hash = bool(parts.query) or len(words) > _SLUG_MAX or not words
    words = words[:_SLUG_MAX].rstrip("-") or "index"
    if needs_hash:
        words += "-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    return words


def article_path(url: str) -> str:
    """Corpus-relative POSIX path of the file for the article at canonical `url`."""
    return f"{WEB_DIR}/{host_dir(url)}/{slug_for(url)}.md"


def render(article: PageArticle) -> str:
    """The file's text: front matter the Markdown loader reads, then the body."""
    front: dict[str, object] = {"title": article.title, "url": article.url}
    if article.source:
        front["source"] = article.source
    if article.author:
        front["author"] = article.author
    if article.published:
        front["published"] = article.published
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000)
    body = "\n\n".join(escape_markdown(p) for p in article.text.split("\n\n"))
    return f"---\n{head}---\n\n{body}\n"


def escape_markdown(paragraph: str) -> str:
    lines = []
    for line in paragraph.split("\n"):
        # `<!--` would still open a comment after `\<`: the loader finds comments verbatim.
        line = _INLINE_SPECIAL.sub(r"\\\1", line).replace("\\<!", "\\<\\!")
        lines.append(_LINE_START_SPECIAL.sub(r"\1\\\2", line))
    return "\n".join(lines)


def write_if_changed(corpus: Path, rel: str, content: str) -> bool:
    """Write `content` to corpus/rel atomically unless the file already holds exactly that.

    The temporary file is hidden (leading dot), so an ingest running meanwhile skips it.
    """
    target = corpus / rel
    data = content.encode("utf-8")
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def remove_article(corpus: Path, rel: str) -> bool:
    """Delete a fetched file (only ever under corpus/web/); True when a file was removed."""
    target = (corpus / rel).resolve()
    web = (corpus / WEB_DIR).resolve()
    if not target.is_relative_to(web) or not target.is_file():
        return False
    target.unlink()
    parent = target.parent
    if parent != web and not any(parent.iterdir()):
        parent.rmdir()
    return True
