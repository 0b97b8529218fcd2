"""Pure rendering helpers: answers, sources and ingest summaries as Markdown or HTML.

Everything an article contributes (text, title, source, url, dates) is untrusted: a news dump can
carry `<script>` or `<img onerror=…>`, and it must show as text. So every value is escaped here,
before it reaches a component, instead of relying on the front end's sanitizer alone. These are
plain functions of their inputs so they are unit-tested without a browser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from ingest.summary import IngestSummary
from rag.records import Answer, Citation, DocumentInfo

# `[3]` as written by the answerer; kept literal so the citation numbers stay readable.
_MARKER = re.compile(r"\[\d{1,3}\]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")

# Characters that mean something to Markdown (links, images, emphasis, code, tables, math) or to
# Gradio's HTML templates (`${…}`, handlebars `{{…}}`). Escaped so article text stays text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#|~$!])")
_HTML_EXTRA = str.maketrans({"{": "&#123;", "}": "&#125;", "$": "&#36;", "`": "&#96;"})

# Characters that would end or break a Markdown link target; percent-encoded instead.
_URL_IN_MD = str.maketrans({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"})

DOCUMENT_COLUMNS = ["title", "source", "date", "chunks", "doc_id"]


def esc(value: object) -> str:
    """HTML-escape any value for element text or a quoted attribute.

    Beyond `html.escape`, braces, `$` and backticks become entities: gr.HTML treats its value
    through a JS/handlebars template, and article text must never be read as one.
    """
    return html.escape(str(value), quote=True).translate(_HTML_EXTRA)


def md_escape(text: str) -> str:
    """Escape untrusted text for a Markdown message so it renders exactly as written.

    `<`, `>` and `&` become entities (no raw HTML survives), and Markdown punctuation is
    backslash-escaped (no injected links, images, emphasis or math).
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str) -> str:
    """The answer text for the chat: escaped, with its `[n]` citation markers left readable."""
    out: list[str] = []
    pos = 0
    for match in _MARKER.finditer(text):
        out.append(md_escape(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """Return the url if it is an absolute http(s) url, else None (no javascript:, data:, …)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    return url


def quote_span(citation: Citation) -> tuple[int, int] | None:
    """Where the quoted span lies inside the passage, or None if it cannot be located.

    Prefers the offsets (quote_start is an article offset; the passage starts at passage_start)
    and falls back to searching the quote text, so a slightly off offset still highlights.
    """
    passage, quote = citation.passage, citation.quote
    if not quote or not passage:
        return None
    start = citation.quote_start - citation.passage_start
    end = start + len(quote)
    if 0 <= start and end <= len(passage) and passage[start:end] == quote:
        return start, end
    found = passage.find(quote)
    if found >= 0:
        return found, found + len(quote)
    return None


def group_by_passage(citations: Iterable[Citation]) -> list[list[Citation]]:
    """Citations that quote the same passage, grouped in the order they are first cited.

    An answer often cites two sentences of one passage; one card with both quotes marked reads
    better than the same passage twice.
    """
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.chunk_id or f"#{c.number}", []).append(c)
    return list(groups.values())


def source_groups(answer: Answer) -> list[list[Citation]]:
    """The cards (or lines) of an answer's sources, in the order of their citation numbers.

    A refusal lists its closest passages; several of them often come from one article, and the
    same title three times reads as a bug. So a refusal shows one entry per article: its
    first-numbered passage.
    """
    citations = sorted(answer.citations, key=lambda c: c.number)
    if answer.abstained:
        seen: set[str] = set()
        kept = []
        for c in citations:
            key = c.doc_id or c.url or c.title or f"#{c.number}"
            if key not in seen:
                seen.add(key)
                kept.append(c)
        citations = kept
    return group_by_passage(citations)


def relevance_ranks(groups: Sequence[Sequence[Citation]]) -> list[int]:
    """Each group's rank by relevance (1 = the best) among the sources shown.

    The raw scores are fused z-scores (negative ones included) that mean nothing to a reader;
    their order does, so the UI shows a rank and a bar derived from it.
    """
    best = [max(c.score for c in group) for group in groups]
    order = sorted(range(len(best)), key=lambda i: -best[i])
    ranks = [0] * len(best)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def relevance_html(rank: int, total: int) -> str:
    """`most relevant` / `relevance 2 of 3` with a bar (full for the best, shorter below)."""
    if total <= 1:
        return ""
    label = "most relevant" if rank == 1 else f"relevance {rank} of {total}"
    pct = round(100 * (total - rank + 1) / total)
    return (
        f'<span class="src-rel" title="rank among these sources, by retrieval score">'
        f'<span class="src-bar"><span style="width:{pct}%"></span></span>{label}</span>'
    )


def _passage_text(text: str) -> str:
    # Blank lines between paragraphs would leave wide gaps in a narrow panel.
    return _BLANK_LINES.sub("\n", esc(text))


def highlight_passage(*citations: Citation) -> str:
    """The passage of these citations as HTML, each quoted span in <mark>, all text escaped.

    With several citations, each mark is followed by its citation number.
    """
    passage = citations[0].passage
    spans = sorted((*span, c.number) for c in citations if (span := quote_span(c)) is not None)
    out: list[str] = []
    pos = 0
    for start, end, number in spans:
        start = max(start, pos)  # overlapping quotes: mark only what is not marked yet
        if start >= end:
            continue
        out.append(_passage_text(passage[pos:start]))
        out.append(f"<mark>{_passage_text(passage[start:end])}</mark>")
        if len(citations) > 1:
            out.append(f'<sup class="src-n">{number}</sup>')
        pos = end
    out.append(_passage_text(passage[pos:]))
    return "".join(out)


def _title_html(citation: Citation) -> str:
    title = esc(citation.title or citation.doc_id or "Untitled")
    url = safe_url(citation.url)
    if url is None:
        return f'<span class="src-title">{title}</span>'
    return (
        f'<a class="src-title" href="{esc(url)}" target="_blank" '
        f'rel="noopener noreferrer">{title}</a>'
    )


def citation_html(*citations: Citation, rank: int = 1, total: int = 1) -> str:
    """One source card for citations of one passage: numbers, linked title, source, date,
    relevance (`rank` of `total` cards) and the passage with the quoted spans highlighted."""
    first = citations[0]
    meta = [esc(part) for part in (first.source, first.published) if part]
    if relevance := relevance_html(rank, total):
        meta.append(relevance)
    flag = ""
    if not all(c.checked for c in citations):
        flag = ' <span class="src-flag">quote not verified</span>'
    numbers = " ".join(str(c.number) for c in citations)
    labels = " ".join(f"[{c.number}]" for c in citations)
    return (
        f'<div class="src-card" data-numbers="{numbers}">'
        f'<div class="src-head"><span class="src-num">{labels}</span> '
        f"{_title_html(first)}</div>"
        f'<div class="src-meta">{" · ".join(meta)}{flag}</div>'
        f'<div class="src-passage">{highlight_passage(*citations)}</div>'
        f"</div>"
    )


EMPTY_SOURCES_HTML = (
    '<div class="sources"><div class="src-empty">Sources of the latest answer appear here.'
    "</div></div>"
)

SEARCHING_HTML = '<div class="sources"><div class="src-empty">Searching the corpus…</div></div>'


def sources_html(answer: Answer | None) -> str:
    """The sources panel for the latest answer; abstentions are labelled as closest passages."""
    if answer is None:
        return EMPTY_SOURCES_HTML
    if not answer.citations:
        label = "No passages found." if answer.abstained else "This answer cites no passages."
        return f'<div class="sources"><div class="src-empty">{label}</div></div>'
    if answer.abstained:
        heading = (
            '<div class="src-label src-abstained">No answer found in the corpus. '
            "Closest passages:</div>"
        )
    else:
        heading = '<div class="src-label">Sources</div>'
    groups = source_groups(answer)
    ranks = relevance_ranks(groups)
    cards = "".join(
        citation_html(*group, rank=rank, total=len(groups))
        for group, rank in zip(groups, ranks, strict=True)
    )
    return f'<div class="sources">{heading}{cards}</div>'


def _source_line_md(citations: Sequence[Citation]) -> str:
    first = citations[0]
    title = md_escape(first.title or first.doc_id or "Untitled")
    url = safe_url(first.url)
    if url is not None:
        title = f"[{title}]({url.translate(_URL_IN_MD)})"
    meta = ", ".join(md_escape(p) for p in (first.source, first.published) if p)
    labels = " ".join(f"[{c.number}]" for c in citations)
    return f"{labels} {title}" + (f" — {meta}" if meta else "")


def short_answer(answer: Answer) -> tuple[str, int | None] | None:
    """The short answer to show before the quotes, with its citation number; None if there is
    none to show.

    Whitespace is collapsed (a span may cross a line break). Nothing is shown for an abstained
    answer. The number is None when `short_citation` names no citation of the answer, so a
    marker never points at a source that is not listed.
    """
    short = " ".join(answer.short.split())
    if not short or answer.abstained:
        return None
    numbers = {c.number for c in answer.citations}
    return short, answer.short_citation if answer.short_citation in numbers else None


def short_markdown(answer: Answer) -> str:
    """`**Buffalo Bills** [1]`: the short answer in bold, escaped like all article text; ""
    when there is none. Escaping `*` keeps a short answer from closing the bold early."""
    found = short_answer(answer)
    if found is None:
        return ""
    short, number = found
    return f"**{md_escape(short)}**" + (f" [{number}]" if number is not None else "")


def answer_with_sources_markdown(answer: Answer) -> str:
    """The whole answer as Markdown: the short answer in bold when there is one, the text with
    `[n]` markers, then the numbered sources.

    What the `/ask` API returns, and what a chat message shows.
    """
    short = short_markdown(answer)
    parts = [short] if short else []
    parts.append(answer_markdown(answer.text))
    if answer.notice:
        parts.append(f"_{md_escape(answer.notice)}_")
    if answer.asked_as_of:  # the CLI's "(answered as of …)": what a later reader must know
        parts.append(f"_answered as of {md_escape(answer.asked_as_of)}_")
    if answer.citations:
        label = "Closest passages" if answer.abstained else "Sources"
        lines = [f"**{label}:**", ""]
        lines += [f"- {_source_line_md(g)}" for g in source_groups(answer)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def error_markdown(message: str) -> str:
    """An error shown as an assistant message, escaped like everything else."""
    return f"⚠️ {md_escape(message)}"


def summary_markdown(summary: IngestSummary) -> str:
    """The re-ingest outcome: the summary line, then each failure with its reason."""
    lines = [f"**Ingest:** {md_escape(summary.line())}"]
    if summary.dry_run:
        lines[0] += " (dry run)"
    if summary.seconds:
        lines[0] += f" in {summary.seconds:.1f} s"
    if summary.failures:
        lines.append("")
        lines.append("**Failures:**")
        lines += [f"- `{_code(f.path)}`: {md_escape(f.reason)}" for f in summary.failures]
    if summary.skipped:
        lines.append("")
        lines.append(f"Skipped {len(summary.skipped)} file(s) of a type ingest does not read.")
    return "\n".join(lines)


def summary_text(summary: IngestSummary) -> str:
    """Plain-text summary for the `/ingest` API: the line, then one failure per line."""
    lines = [summary.line()]
    lines += [f"failed: {f.path}: {f.reason}" for f in summary.failures]
    return "\n".join(lines)


def _code(text: str) -> str:
    # Inside a code span nothing is interpreted but a backtick would end it.
    return html.escape(text.replace("`", "'"), quote=False)


def documents_rows(docs: Iterable[DocumentInfo]) -> list[list[object]]:
    """Rows of the corpus table (DOCUMENT_COLUMNS), most recent article first.

    The Dataframe shows cell values as text; no escaping is needed there, but titles are kept
    as plain strings (never HTML).
    """
    ordered = sorted(docs, key=lambda d: (d.published or "", d.title), reverse=True)
    return [[d.title, d.source, d.published, d.chunks, d.doc_id] for d in ordered]


def document_choices(docs: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the delete dropdown; the label says which article it is."""
    choices = []
    for d in sorted(docs, key=lambda d: d.doc_id):
        label = f"{d.title} — {d.doc_id}" if d.title else d.doc_id
        choices.append((label, d.doc_id))
    return choices
