"""Rendering helpers of the web UI: escaping of untrusted article data, highlights, labels.

Also the small pure helpers the app relies on: filters from the form, login credentials and
example questions.
"""

from __future__ import annotations

import datetime as dt

import pytest
from support import ARTICLE, answer, citation

from ingest.summary import Failure, IngestSummary
from rag.records import DocumentInfo
from ui import render
from ui.auth import auth_checker, load_credentials
from ui.examples import example_questions, question_from_title
from ui.filters import build_filters

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'


# ---- escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [SCRIPT, IMG])
def test_sources_panel_escapes_passage_and_metadata(payload: str) -> None:
    c = citation(
        title=f"Title {payload}",
        source=f"Src {payload}",
        published=payload,
        passage=f"Before {payload} after. The minister said rates will rise in May.",
        quote="The minister said rates will rise in May.",
        quote_start=0,
        passage_start=0,
    )
    html = render.sources_html(answer(citations=[c]))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html or "&lt;img" in html
    assert "onerror=" not in html or "onerror=&quot;" in html


def test_answer_markdown_escapes_html_and_markdown_but_keeps_markers() -> None:
    text = f"Look {SCRIPT} and {IMG} [1] and [click](javascript:alert(1)) ![x](y) [2]."
    md = render.answer_markdown(text)
    assert "<script" not in md and "<img" not in md
    assert "&lt;script&gt;" in md
    assert "[1]" in md and "[2]" in md
    assert "](" not in md  # no link can form
    assert "\\[click\\]" in md


def test_answer_with_sources_markdown_escapes_titles_and_filters_urls() -> None:
    bad = citation(number=2, chunk_id="d2", title=f"Evil {IMG}", url="javascript:alert(1)")
    md = render.answer_with_sources_markdown(answer(citations=[citation(), bad]))
    assert "<img" not in md and "javascript:" not in md
    assert "[1] [Rates to rise](https://news.example/rates) — Daily News, 2024-05-02" in md
    assert "[2] Evil &lt;img" in md


def test_html_escape_neutralizes_template_syntax() -> None:
    assert "${" not in render.esc("${alert(1)} {{x}} `y`")


# ---- highlight and urls -----------------------------------------------------------------------


def test_quote_is_highlighted_by_offsets() -> None:
    html = render.highlight_passage(citation())
    assert html == (
        "Intro sentence. <mark>The minister said rates will rise in May.</mark> Closing words."
    )


def test_quote_is_found_by_text_when_offsets_are_off() -> None:
    html = render.highlight_passage(citation(quote_start=5, passage_start=0))
    assert "<mark>The minister said rates will rise in May.</mark>" in html


def test_no_highlight_when_quote_missing_from_passage() -> None:
    assert "<mark>" not in render.highlight_passage(citation(quote="not there"))
    assert "<mark>" not in render.highlight_passage(citation(quote=""))


def test_highlighted_quote_is_escaped() -> None:
    passage = f"a {SCRIPT} b"
    c = citation(passage=passage, quote=SCRIPT, passage_start=0, quote_start=2)
    assert render.highlight_passage(c) == (
        "a <mark>&lt;script&gt;window.__pwned=1&lt;/script&gt;</mark> b"
    )


def test_citations_of_one_passage_share_a_card_with_both_quotes_marked() -> None:
    second = citation(number=2, quote="Closing words.", quote_start=100 + ARTICLE.index("Closing"))
    other = citation(number=3, chunk_id="doc-2#0", title="Other")
    html = render.sources_html(answer(citations=[citation(), other, second]))
    assert html.count('class="src-card"') == 2
    assert 'data-numbers="1 2"' in html and 'data-numbers="3"' in html
    assert html.index("[1] [2]") < html.index("Other")
    assert "<mark>The minister said rates will rise in May.</mark><sup" in html
    assert "<mark>Closing words.</mark><sup" in html
    md = render.answer_with_sources_markdown(answer(citations=[citation(), other, second]))
    assert "- [1] [2] [Rates to rise]" in md and "- [3] [Other]" in md


def test_overlapping_quotes_are_marked_once() -> None:
    a = citation(quote="Intro sentence. The minister", quote_start=100)
    b = citation(number=2, quote="The minister said", quote_start=116)
    html = render.highlight_passage(a, b)
    assert html.count("<mark>") == 2
    assert render.esc(ARTICLE) == html.replace("<mark>", "").replace("</mark>", "").replace(
        '<sup class="src-n">1</sup>', ""
    ).replace('<sup class="src-n">2</sup>', "")


def test_blank_lines_in_passage_are_collapsed() -> None:
    c = citation(passage="One.\n\nTwo.", quote="Two.", passage_start=0, quote_start=6)
    assert render.highlight_passage(c) == "One.\n<mark>Two.</mark>"


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("  HTTPS://example.com/x  ", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("vbscript:x", False),
        ("//example.com/x", False),
        ("/relative", False),
        ("ftp://example.com", False),
        ("https://exa mple.com", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, ok: bool) -> None:
    assert (render.safe_url(url) is not None) is ok


def test_title_link_attributes() -> None:
    html = render.citation_html(citation(url='https://e.com/"x"'))
    assert 'href="https://e.com/&quot;x&quot;"' in html
    assert 'rel="noopener noreferrer"' in html and 'target="_blank"' in html


def test_title_without_safe_url_is_not_a_link() -> None:
    html = render.citation_html(citation(url="javascript:alert(1)"))
    assert "<a " not in html and "javascript" not in html


def test_card_shows_number_source_date_and_a_readable_relevance() -> None:
    html = render.citation_html(citation(score=-4.78), rank=2, total=3)
    assert "[1]" in html and "Daily News" in html and "2024-05-02" in html
    assert "relevance 2 of 3" in html and "width:67%" in html
    assert "score -4" not in html and "4.78" not in html  # raw fused scores mean nothing here


# ---- labels -----------------------------------------------------------------------------------


def test_abstained_answer_is_labelled_closest_passages() -> None:
    a = answer(abstained=True, text="I could not find an answer in the corpus.")
    assert "Closest passages" in render.sources_html(a)
    assert "No answer found" in render.sources_html(a)
    assert "Closest passages" in render.answer_with_sources_markdown(a)
    assert "Closest passages" not in render.sources_html(answer())


def test_empty_states() -> None:
    assert "appear here" in render.sources_html(None)
    assert "No passages" in render.sources_html(answer(abstained=True, citations=[]))


def test_notice_is_shown_and_escaped() -> None:
    md = render.answer_with_sources_markdown(answer(notice="LLM <down>"))
    assert "_LLM &lt;down&gt;_" in md


def test_summary_markdown_lists_failures_escaped() -> None:
    summary = IngestSummary(
        added=2, failed=1, failures=[Failure(path="bad`<x>.pdf", reason="broken <b>pdf</b>")]
    )
    md = render.summary_markdown(summary)
    assert "added 2, updated 0, removed 0, unchanged 0, failed 1" in md
    assert "<b>" not in md and "&lt;b&gt;" in md and "<x>" not in md
    text = render.summary_text(summary)
    assert text.splitlines()[0] == summary.line()
    assert "broken <b>pdf</b>" in text  # plain text for API clients


def test_documents_rows_newest_first() -> None:
    docs = [
        DocumentInfo(doc_id="a", sha256="x", chunks=2, title="Old", published="2023-01-01"),
        DocumentInfo(doc_id="b", sha256="y", chunks=3, title="New", published="2024-01-01"),
        DocumentInfo(doc_id="c", sha256="z", chunks=1, title="Undated"),
    ]
    rows = render.documents_rows(docs)
    assert [r[-1] for r in rows] == ["b", "a", "c"]
    assert rows[0] == ["New", "", "2024-01-01", 3, "b"]
    assert ("New — b", "b") in render.document_choices(docs)


# ---- filters ----------------------------------------------------------------------------------


def test_build_filters() -> None:
    assert build_filters(None, "", " ") is None
    f = build_filters(["BBC"], "2024-01-01", "2024-12-31")
    assert f is not None and f.sources == ["BBC"]
    assert f.since == dt.date(2024, 1, 1) and f.until == dt.date(2024, 12, 31)


@pytest.mark.parametrize(
    "since,until,needle",
    [("2024-13-01", "", "'since' date '2024-13-01'"), ("", "yesterday", "YYYY-MM-DD")],
)
def test_build_filters_bad_date(since: str, until: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        build_filters([], since, until)


def test_build_filters_reversed_range() -> None:
    with pytest.raises(ValueError, match="after"):
        build_filters([], "2024-05-01", "2024-01-01")


# ---- login ------------------------------------------------------------------------------------


def test_credentials_inline_and_file(tmp_path) -> None:
    assert load_credentials(None) == {}
    assert load_credentials("ann:se:cret") == {"ann": "se:cret"}
    f = tmp_path / "users"
    f.write_text("# users\nann:one\n\nbob:two\n")
    creds = load_credentials(str(f))
    assert creds == {"ann": "one", "bob": "two"}
    check = auth_checker(creds)
    assert check("ann", "one") and not check("ann", "two") and not check("eve", "one")


@pytest.mark.parametrize("spec", ["no-colon", ":nouser", "user:"])
def test_credentials_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        load_credentials(spec)


# ---- example questions ------------------------------------------------------------------------


class _Store:
    def __init__(self, docs: list[DocumentInfo]) -> None:
        self.docs = docs

    def list_documents(self) -> list[DocumentInfo]:
        return self.docs


def test_example_questions_from_recent_titles() -> None:
    docs = [
        DocumentInfo(
            doc_id="1", sha256="", chunks=1, title="Old story about farms", published="2020-01-01"
        ),  # noqa: E501
        DocumentInfo(
            doc_id="2",
            sha256="",
            chunks=1,
            title="UK signs AI deal with OpenAI",
            published="2024-07-22",
        ),  # noqa: E501
        DocumentInfo(
            doc_id="3",
            sha256="",
            chunks=1,
            title="UK signs AI deal with OpenAI",
            published="2024-07-21",
        ),  # noqa: E501
        DocumentInfo(doc_id="4", sha256="", chunks=1, title="article-4", published="2024-08-01"),
        DocumentInfo(
            doc_id="5", sha256="", chunks=1, title="Is inflation over?", published="2024-06-01"
        ),  # noqa: E501
    ]
    qs = example_questions(_Store(docs), n=3)
    assert qs == [
        "What happened: UK signs AI deal with OpenAI?",
        "Is inflation over?",
        "What happened: Old story about farms?",
    ]
    assert example_questions(_Store([]), n=3) == []


def test_question_from_long_title_is_cut() -> None:
    q = question_from_title("word " * 60)
    assert q is not None and len(q) < 120 and q.endswith("…?")
