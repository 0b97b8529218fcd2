"""Markdown (.md, .markdown): YAML front matter for metadata, markup reduced to plain prose."""

from __future__ import annotations

import logging
import re
from typing import Any

import yaml

from ingest.loaders.common import (
    LoadResult,
    lower_keys,
    make_article,
    meta_from_mapping,
    require,
    title_from_name,
)
from ingest.loaders.reading import decode_text

logger = logging.getLogger(__name__)

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


def load_markdown(data: bytes, rel: str) -> LoadResult:
    text = decode_text(data, rel)
    front, body = _split_front_matter(text, rel)
    meta = meta_from_mapping(front, rel)
    heading, body = _take_title_heading(body, meta.title)
    if not meta.title:
        meta.title = heading
    article = make_article(rel, rel, meta, _clean_markdown(body), title_from_name(rel))
    return LoadResult([require(article, rel)])


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
    return lower_keys(data), "\n".join(lines[end + 1 :])


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
