"""Turn corpus files into `Article`s: one loader per format, one error type for unusable files.

The ingest pipeline calls `discover` to list the corpus and `load_file` on each file. A file that
yields nothing usable raises `LoadError` (path + a short human reason) so the run can report it
and go on; records skipped inside a multi-article dump (JSON list, JSONL) are returned as
`LoadResult.problems` instead, because the rest of the dump is still good.

Every text that leaves this module went through `normalize_text`: chunk and citation offsets
index into exactly that string.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email.utils
import io
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from rag.models import Article, normalize_text

logger = logging.getLogger(__name__)

__all__ = ["SUPPORTED_EXTENSIONS", "LoadError", "LoadResult", "discover", "load_file"]

TEXT_EXTENSIONS = frozenset({".txt"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS | {".json", ".jsonl", ".pdf"}
)

_MB = 1024 * 1024
_SNIFF_BYTES = 8192
# Share of C0 control bytes (other than whitespace/ESC) above which a file is not text.
_MAX_CONTROL_RATIO = 0.05


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


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def discover(root: Path) -> tuple[list[Path], list[Path]]:
    """List the corpus: (files we can load, files with other extensions), both sorted.

    Hidden files and directories are skipped (editor swap files, `.git`, our own store), and so
    are symlinks that lead outside `root`, so a link cannot pull a foreign tree into the corpus.
    Symlinked directories inside `root` are followed, with loop protection. `root` may be a
    single file. A missing `root` raises FileNotFoundError: an empty listing would silently
    "remove" the whole corpus on re-ingest.
    """
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(f"corpus path does not exist: {root}")
    if not root.is_dir():
        return ([root], []) if _is_supported(root) else ([], [root])
    supported: list[Path] = []
    others: list[Path] = []
    real_root = os.path.realpath(root)
    _walk(root, real_root, frozenset({real_root}), supported, others)
    return sorted(supported), sorted(others)


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def _inside(real_path: str, real_root: str) -> bool:
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def _walk(
    directory: Path,
    real_root: str,
    ancestors: frozenset[str],
    supported: list[Path],
    others: list[Path],
) -> None:
    """Depth-first walk; `ancestors` holds the real paths above us, to stop symlink loops."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        logger.warning("cannot list %s: %s", directory, exc.strerror or exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = directory / entry.name
        if entry.is_symlink():
            target = os.path.realpath(path)
            if not _inside(target, real_root):
                logger.debug("skipping %s: symlink to %s, outside the corpus", path, target)
                continue
            if os.path.isdir(target):
                if target in ancestors:
                    logger.debug("skipping %s: symlink loop", path)
                else:
                    _walk(path, real_root, ancestors | {target}, supported, others)
                continue
            # A link to a file inside root, or a broken link: load_file reports the latter.
        elif entry.is_dir(follow_symlinks=False):
            _walk(path, real_root, ancestors | {os.path.realpath(path)}, supported, others)
            continue
        (supported if _is_supported(path) else others).append(path)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_file(path: Path, root: Path, *, max_bytes: int) -> LoadResult:
    """Load the article(s) of one file; raise LoadError for a file that yields nothing usable.

    Never raises anything else: an unexpected failure of a parser becomes
    `LoadError(path, "unreadable: …")`, so one odd file cannot stop an ingest run.
    """
    rel = relative_name(path, root)
    try:
        return _load(path, rel, max_bytes)
    except LoadError:
        raise
    except Exception as exc:  # the contract: LoadError or nothing
        logger.debug("unexpected error loading %s", rel, exc_info=True)
        raise LoadError(rel, f"unreadable: {_describe(exc)}") from exc


def relative_name(path: Path, root: Path) -> str:
    """The corpus-relative POSIX path used as `doc_id` and `Article.path`.

    When `root` is the file itself (or not a directory) it is the file's name, so ingesting a
    single file gives the same id as ingesting its folder would for a top-level file.
    """
    if path == root or not root.is_dir():
        return path.name
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        pass
    try:  # e.g. one given relative and the other absolute; do not resolve symlinks
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return path.name


def _load(path: Path, rel: str, max_bytes: int) -> LoadResult:
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise LoadError(rel, f"unsupported file type {ext or '(no extension)'!r}")
    data = _read_bytes(path, rel, max_bytes)
    if ext == ".pdf":
        return LoadResult([_load_pdf(data, rel)])
    text = _decode(data, rel)
    if not text.strip():
        raise LoadError(rel, "empty file")
    if ext in TEXT_EXTENSIONS:
        article = _make_article(rel, rel, _Meta(), text, _title_from_name(rel))
        return LoadResult([_require(article, rel)])
    if ext in MARKDOWN_EXTENSIONS:
        return LoadResult([_load_markdown(text, rel)])
    if ext in HTML_EXTENSIONS:
        return LoadResult([_load_html(text, rel)])
    if ext == ".json":
        return _load_json(text, rel)
    return _load_jsonl(text, rel)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _human_size(n: int) -> str:
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _too_big(rel: str, size: int, max_bytes: int) -> LoadError:
    return LoadError(
        rel,
        f"file is {_human_size(size)}, over the {_human_size(max_bytes)} limit "
        "(NEWSRAG_MAX_FILE_BYTES)",
    )


def _read_bytes(path: Path, rel: str, max_bytes: int) -> bytes:
    """Read the file, checking its size first so a huge file is never pulled into memory."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise LoadError(rel, "cannot read: broken symlink (its target is missing)") from None
        raise LoadError(rel, "cannot read: file not found") from None
    except OSError as exc:
        raise LoadError(rel, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise LoadError(rel, "cannot read: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise LoadError(rel, "cannot read: not a regular file")
    if st.st_size == 0:
        raise LoadError(rel, "empty file")
    if st.st_size > max_bytes:
        raise _too_big(rel, st.st_size, max_bytes)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # +1: notice a file that grew after stat()
    except OSError as exc:
        raise LoadError(rel, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise _too_big(rel, len(data), max_bytes)
    if not data:
        raise LoadError(rel, "empty file")
    return data


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

_CONTROL_BYTES = frozenset(set(range(0x00, 0x09)) | set(range(0x0E, 0x20)) | {0x7F}) - {0x1B}


def _fallback_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return chr(byte)  # latin-1


_CP1252_OR_LATIN1 = tuple(_fallback_char(b) for b in range(256))


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode each byte that is not valid UTF-8 as cp1252 (else latin-1).

    Per byte rather than per file, so a UTF-8 article with one stray Windows quote keeps its
    other accents intact instead of turning into mojibake.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(_CP1252_OR_LATIN1[b] for b in bad), exc.end


codecs.register_error("newsrag-cp1252-fallback", _cp1252_fallback)


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes or many control bytes: an image or archive renamed .txt, not an article."""
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b in _CONTROL_BYTES)
    return controls > len(sample) * _MAX_CONTROL_RATIO


def _decode(data: bytes, rel: str) -> str:
    """Bytes to str without ever failing on encoding: UTF-8 first, then a logged fallback."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows "Unicode"
        text = data.decode("utf-16", errors="replace")
    elif _looks_binary(data[:_SNIFF_BYTES]):
        raise LoadError(rel, "binary content, not text")
    else:
        text = _decode_utf8_with_fallback(data, rel)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_utf8_with_fallback(data: bytes, rel: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        logger.warning(
            "%s: not valid UTF-8 (first bad byte at offset %d); decoded those bytes as "
            "cp1252/latin-1",
            rel,
            exc.start,
        )
        return data.decode("utf-8", errors="newsrag-cp1252-fallback").removeprefix("\ufeff")


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
class _Meta:
    title: str = ""
    source: str = ""
    url: str = ""
    author: str = ""
    published: dt.date | None = None


def _as_str(value: Any) -> str:
    """A metadata value as one line: lists joined ("A, B"), {"name": …} objects unwrapped."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int | float | dt.date):
        return str(value)
    if isinstance(value, Mapping):
        return _as_str(value.get("name"))
    if isinstance(value, list | tuple):
        return ", ".join(s for s in (_as_str(v) for v in value) if s)
    return ""


def _lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        out.setdefault(str(key).strip().lower(), value)
    return out


def _first(mapping: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _meta_from_mapping(mapping: Mapping[str, Any], where: str) -> _Meta:
    """Front matter or a JSON record (keys already lower-cased) to metadata."""
    return _Meta(
        title=_as_str(_first(mapping, TITLE_KEYS)),
        source=_as_str(_first(mapping, SOURCE_KEYS)),
        url=_as_str(_first(mapping, URL_KEYS)),
        author=_as_str(_first(mapping, AUTHOR_KEYS)),
        published=parse_date(_first(mapping, DATE_KEYS), where=where),
    )


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_DAY_YEAR = re.compile(
    r"\b(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b"
)
_DAY_MONTH_YEAR = re.compile(
    r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>[A-Za-z]{3,9})\.?,?\s+"
    r"(?P<year>\d{4})\b"
)
_ISO_DATE = re.compile(r"\b(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b")


def parse_date(value: Any, *, where: str = "") -> dt.date | None:
    """A publication date from the many shapes metadata uses; None (logged) when unparseable.

    Accepts date/datetime objects (YAML front matter yields them), ISO dates and datetimes (with
    Z or an offset; the date is taken as written, not converted to UTC), "July 22, 2025",
    "22 July 2025", RFC 2822 ("Tue, 22 Jul 2025 10:00:00 +0000") and epoch seconds/milliseconds.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    result: dt.date | None = None
    if isinstance(value, int | float):
        result = _date_from_epoch(float(value))
    elif isinstance(value, str):
        result = _date_from_string(value.strip())
    if result is None:
        logger.debug("%s: unparseable date %r, left empty", where or "metadata", value)
    return result


def _date_from_epoch(seconds: float) -> dt.date | None:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    if not 1e8 < seconds < 1e11:  # 1973..5138: anything else is not a timestamp
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()


def _date_from_string(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    for pattern in (_ISO_DATE, _MONTH_DAY_YEAR, _DAY_MONTH_YEAR):
        match = pattern.search(text)
        if match is None:
            continue
        month_text = match.group("month")
        month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
        if month is None:
            continue
        try:
            return dt.date(int(match.group("year")), month, int(match.group("day")))
        except ValueError:
            continue
    return None


def _title_from_name(rel: str) -> str:
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


def _make_article(doc_id: str, rel: str, meta: _Meta, body: str, fallback: str) -> Article | None:
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


def _require(article: Article | None, rel: str) -> Article:
    if article is None:
        raise LoadError(rel, "no article text")
    return article


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_SETEXT = re.compile(r"^\s{0,3}=+\s*$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)")
_HEADING_TAIL = re.compile(r"\s+#+\s*$")
_H1 = re.compile(r"^\s{0,3}#\s+(.*?)(?:\s+#+)?\s*$")
_BLOCKQUOTE = re.compile(r"^\s*(?:>\s?)+")
# Every span is bounded ({1,500}) so a line full of unmatched `*` or `[` stays linear, not
# quadratic: corpus files are untrusted input.
_SPAN = r"(?=\S)(.{1,500}?)(?<=\S)"
_URL_PARENS = r"\((?:[^()]|\([^()]{0,500}\)){0,2000}\)"
_IMAGE = rf"!\[[^\]]{{0,500}}\](?:{_URL_PARENS}|\[[^\]]{{0,500}}\])"
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^[ \t]*{_IMAGE}[ \t]*|[ \t]*{_IMAGE}"), ""),  # images, with their spacing
    (re.compile(rf"(?<!\\)\[([^\]]{{1,500}})\]{_URL_PARENS}"), r"\1"),  # [text](url)
    (re.compile(r"(?<!\\)\[([^\]]{1,500})\]\[[^\]]{0,500}\]"), r"\1"),  # [text][ref]
    (re.compile(r"<((?:https?|mailto):[^>\s]{1,2000})>"), r"\1"),  # <https://…>
    (re.compile(r"`([^`\n]{1,500})`"), r"\1"),  # `code`
    (re.compile(rf"(?<!\\)\*\*{_SPAN}\*\*"), r"\1"),  # **strong**
    (re.compile(rf"(?<!\w)__{_SPAN}__(?!\w)"), r"\1"),  # __strong__
    (re.compile(r"(?<![\\*\w])\*(?=[^\s*])(.{1,500}?)(?<=[^\s*\\])\*(?![*\w])"), r"\1"),  # *em*
    (re.compile(rf"(?<![\\\w])_{_SPAN}_(?!\w)"), r"\1"),  # _em_
    (re.compile(rf"~~{_SPAN}~~"), r"\1"),  # ~~strike~~
    (re.compile(r"\\([!-/:-@\[-`{-~])"), r"\1"),  # backslash escapes, last
)


def _strip_comments(text: str) -> str:
    """Drop `<!-- … -->` with str.find: linear even when a comment is never closed."""
    out: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break
        out.append(text[pos:start])
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def _load_markdown(text: str, rel: str) -> Article:
    front, body = _split_front_matter(text, rel)
    meta = _meta_from_mapping(front, rel)
    heading, body = _take_title_heading(body, meta.title)
    if not meta.title:
        meta.title = heading
    return _require(
        _make_article(rel, rel, meta, _clean_markdown(body), _title_from_name(rel)), rel
    )


def _split_front_matter(text: str, rel: str) -> tuple[dict[str, Any], str]:
    """YAML between leading `---` lines → (metadata, body). Bad YAML is ignored, never fatal."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, text
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. `date: 2025-02-30`
        logger.warning("%s: malformed front matter ignored: %s", rel, " ".join(str(exc).split()))
        return {}, text
    if data is None:
        data = {}
    if not isinstance(data, dict):
        logger.warning("%s: front matter is not a mapping; ignored", rel)
        return {}, text
    return _lower_keys(data), "\n".join(lines[end + 1 :])


def _take_title_heading(body: str, meta_title: str) -> tuple[str, str]:
    """Find the first `# heading` (outside code fences) to serve as a title.

    When it opens the body and is the title (no other title, or the same one), its line is
    dropped so the text does not start by repeating the title that travels with every chunk.
    """
    lines = body.split("\n")
    in_fence = False
    first_content = True
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            first_content = False
            continue
        if in_fence or not line.strip():
            continue
        match = _H1.match(line)
        if match and match.group(1).strip():
            heading = _clean_inline(match.group(1)).strip()
            same = not meta_title or heading.casefold() == meta_title.strip().casefold()
            if first_content and same:
                return heading, "\n".join(lines[:i] + lines[i + 1 :])
            return heading, body
        first_content = False
    return "", body


def _clean_inline(line: str) -> str:
    for pattern, replacement in _INLINE_RULES:
        line = pattern.sub(replacement, line)
    return line


def _clean_markdown(body: str) -> str:
    """Markdown → plain text shown to users in quotes: drop markup, keep words and paragraphs.

    Deliberately a few regexes, not a renderer: deterministic and good enough for news prose.
    Code blocks keep their content verbatim.
    """
    out: list[str] = []
    in_fence = False
    for line in _strip_comments(body).split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line)
            continue
        if _REF_DEF.match(line):
            continue
        if _RULE.match(line) or _SETEXT.match(line):
            out.append("")
            continue
        if _HEADING.match(line):
            line = _HEADING_TAIL.sub("", _HEADING.sub("", line, count=1))
        line = _BLOCKQUOTE.sub("", line)
        out.append(_clean_inline(line))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

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


def _load_html(text: str, rel: str) -> Article:
    soup = BeautifulSoup(text, "html.parser")
    page = _index_page(soup)
    meta = _html_meta(page, rel)
    body = _visible_text(soup, page)
    return _require(_make_article(rel, rel, meta, body, _title_from_name(rel)), rel)


def _html_to_text(markup: str) -> str:
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


def _html_meta(page: _Page, rel: str) -> _Meta:
    """Title, site, url, author and date from meta tags, then JSON-LD, then the page itself."""
    metas = page.metas
    ld = _json_ld_article(page.json_ld)
    article_author = metas.get("article:author", "")
    if article_author.startswith(("http://", "https://")):
        article_author = ""  # usually a profile URL, not a name
    published = parse_date(_first(metas, _DATE_META), where=rel)
    if published is None:
        published = parse_date(ld.get("datepublished"), where=rel)
    if published is None and page.date_tag is not None:
        tag = page.date_tag
        value = tag.get("datetime") or tag.get("content") or tag.get_text()
        published = parse_date(str(value), where=rel)
    return _Meta(
        title=metas.get("og:title")
        or _as_str(ld.get("headline"))
        or (_as_str(page.title.get_text()) if page.title is not None else "")
        or (_as_str(page.h1.get_text(" ")) if page.h1 is not None else ""),
        source=_as_str(metas.get("og:site_name") or ld.get("publisher")),
        url=metas.get("og:url") or page.canonical or _as_str(ld.get("url")),
        author=_as_str(metas.get("author") or article_author or ld.get("author")),
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
                    return _lower_keys(item)
                if isinstance(item.get("@graph"), list):
                    queue.extend(item["@graph"])
    return {}


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------

_JUNK_PDF_TITLES = re.compile(r"^(untitled|microsoft word - .*|document\d*)$", re.I)


def _load_pdf(data: bytes, rel: str) -> Article:
    """All pages' text joined by blank lines; title/author from the document info if sane."""
    import pypdf  # imported lazily: only corpora with PDFs pay for it

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
    except Exception as exc:  # pypdf raises many types on garbage input
        raise LoadError(rel, f"broken PDF: {_describe(exc)}") from None
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # e.g. DependencyError: AES without `cryptography`
            raise LoadError(rel, f"encrypted PDF that cannot be opened: {_describe(exc)}") from None
        if not opened:
            raise LoadError(rel, "encrypted PDF, needs a password")
    try:
        pages = list(reader.pages)
    except Exception as exc:  # pypdf raises many types on broken page trees
        raise LoadError(rel, f"broken PDF: {_describe(exc)}") from None
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:  # one bad page should not lose the others
            logger.warning("%s: page %d unreadable, skipped: %s", rel, number, _describe(exc))
    meta = _Meta()
    try:
        info = reader.metadata
    except Exception:  # broken info dict: no metadata, still the text
        info = None
    if info is not None:
        title = _as_str(info.title)
        meta.title = "" if _JUNK_PDF_TITLES.match(title) else title
        meta.author = _as_str(info.author)
    article = _make_article(rel, rel, meta, "\n\n".join(texts), _title_from_name(rel))
    if article is None:
        reason = "no article text (a scanned PDF without a text layer?)" if pages else "no pages"
        raise LoadError(rel, reason)
    return article


# --------------------------------------------------------------------------------------------
# JSON and JSONL
# --------------------------------------------------------------------------------------------

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


def _load_json(text: str, rel: str) -> LoadResult:
    """One article object, a list of them, or {"articles"|"items"|"data": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several objects: JSON Lines saved as .json
            records = _jsonl_records(text, rel)
            if any(not r.error for r in records):
                logger.info("%s: holds one JSON object per line; read as JSONL", rel)
                return _load_records(records, rel)
        raise LoadError(rel, _malformed(exc)) from None
    except RecursionError:
        raise LoadError(rel, _TOO_DEEP) from None
    return _load_json_value(data, rel)


def _load_json_value(data: Any, rel: str) -> LoadResult:
    records = _json_list(data)
    if records is None:
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise LoadError(rel, f"JSON holds a {kind}, not an article object or a list of them")
        article, reason = _record_article(
            _lower_keys(data), rel, rel, fallback=_title_from_name(rel)
        )
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


def _load_jsonl(text: str, rel: str) -> LoadResult:
    """One object per line; a bad line is a problem, not a failure of the file."""
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
        fields = _lower_keys(record.value)
        doc_id = _record_doc_id(fields, rel, record.index)
        try:
            article, reason = _record_article(fields, doc_id, rel, fallback="")
        except Exception as exc:  # one odd record must not cost the rest of the dump
            article, reason = None, f"unreadable: {_describe(exc)}"
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
    url = _first(fields, URL_KEYS)
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
            return _html_to_text(value) if _HTML_IN_TEXT.search(value) else value
    return None


def _record_article(
    fields: Mapping[str, Any], doc_id: str, rel: str, *, fallback: str
) -> tuple[Article | None, str]:
    body = _record_text(fields)
    if body is None:
        return None, "no article text (text, body or content field missing or empty)"
    meta = _meta_from_mapping(fields, rel)
    article = _make_article(doc_id, rel, meta, body, fallback)
    return (article, "") if article is not None else (None, "no article text")
