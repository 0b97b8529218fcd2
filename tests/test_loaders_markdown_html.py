"""Loaders: Markdown (front matter, metadata) and HTML (visible article text, metadata).
Fast, no model."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from support import load_error, load_one, write


class TestMarkdown:
    def test_front_matter_metadata(self, tmp_path: Path) -> None:
        md = (
            "---\ntitle: UK and OpenAI sign a partnership\npublisher: The Guardian\n"
            "link: https://example.com/uk-openai\nbyline: [Ann Smith, Bob Jones]\n"
            "date: 2025-07-22\n---\n\nThe agreement was signed yesterday.\n"
        )
        article = load_one(write(tmp_path, "news/uk.md", md), tmp_path)
        assert article.title == "UK and OpenAI sign a partnership"
        assert article.source == "The Guardian"
        assert article.url == "https://example.com/uk-openai"
        assert article.author == "Ann Smith, Bob Jones"
        assert article.published == dt.date(2025, 7, 22)
        assert article.text == "The agreement was signed yesterday."
        assert article.doc_id == "news/uk.md"

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("published_at", "2025-07-22T10:15:00Z"),
            ("published", "July 22, 2025"),
            ("datePublished", "22 July 2025"),
            ("date", "Tue, 22 Jul 2025 10:00:00 +0000"),
        ],
    )
    def test_front_matter_date_keys(self, tmp_path: Path, key: str, value: str) -> None:
        article = load_one(write(tmp_path, "a.md", f"---\n{key}: '{value}'\n---\nBody."))
        assert article.published == dt.date(2025, 7, 22)

    def test_first_heading_is_title_and_leaves_the_body(self, tmp_path: Path) -> None:
        md = "# A **bold** headline\n\nFirst paragraph.\n\n## Section\n\nMore text."
        article = load_one(write(tmp_path, "a.md", md))
        assert article.title == "A bold headline"
        assert article.text == "First paragraph.\n\nSection\n\nMore text."

    def test_front_matter_title_wins_over_a_different_heading(self, tmp_path: Path) -> None:
        md = "---\ntitle: Meta title\n---\n# Other heading\n\nBody."
        article = load_one(write(tmp_path, "a.md", md))
        assert article.title == "Meta title"
        assert article.text == "Other heading\n\nBody."

    def test_markup_stripped(self, tmp_path: Path) -> None:
        md = (
            "Read [the report](https://x.org/r_(1)) and ![chart](c.png) *now*, _please_.\n"
            "> A **quoted** `claim` with ~~old~~ text, snake_case_name and 2*3*4 kept.\n\n"
            "---\n\nSee [docs][1]. <!-- hidden note -->\n\n[1]: https://x.org/docs\n"
            "Escaped \\*stars\\* stay."
        )
        article = load_one(write(tmp_path, "a.md", md))
        assert article.text == (
            "Read the report and now, please.\n"
            "A quoted claim with old text, snake_case_name and 2*3*4 kept.\n\n"
            "See docs.\n\nEscaped *stars* stay."
        )

    def test_code_fence_content_kept_verbatim(self, tmp_path: Path) -> None:
        md = "Intro.\n\n```\n# not a heading *x*\n```\n"
        article = load_one(write(tmp_path, "a.markdown", md))
        assert article.text == "Intro.\n\n# not a heading *x*"
        assert article.title == "A"

    def test_malformed_front_matter_is_ignored_with_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        md = "---\ntitle: [unclosed\n---\nBody text."
        with caplog.at_level(logging.WARNING, logger="ingest.loaders"):
            article = load_one(write(tmp_path, "bad-front.md", md))
        assert "bad-front.md" in caplog.text and "front matter" in caplog.text
        assert article.title == "Bad front"
        assert "Body text." in article.text

    def test_impossible_yaml_date_does_not_fail(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "a.md", "---\ntitle: T\ndate: 2025-02-30\n---\nB."))
        assert article.text  # front matter ignored (logged), the article still loads

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("a.md", '---\ntitle: "\\uD800 Harbour"\n---\nBody text of the story.\n'),
            ("a.json", '{"title": "T", "text": "Body \\udfff of the story."}'),
            ("a.jsonl", '{"title": "\\ud83d", "text": "Body of the story.", "source": "\\ud800"}'),
        ],
    )
    def test_lone_surrogate_escapes_become_replacement_characters(
        self, tmp_path: Path, name: str, content: str
    ) -> None:
        # A "\uD800" escape decodes to a str that UTF-8 cannot encode; the store would fail.
        article = load_one(write(tmp_path, name, content))
        for value in (article.title, article.text, article.source):
            value.encode("utf-8")  # raises UnicodeEncodeError if a surrogate slipped through
        assert "Body" in article.text

    def test_unparseable_date_left_empty(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "a.md", "---\ntitle: T\ndate: last Tuesday\n---\nB."))
        assert article.published is None
        assert article.title == "T"


HTML_PAGE = """<!doctype html>
<html><head>
  <title>Site | Page title</title>
  <meta property="og:title" content="UK signs OpenAI deal">
  <meta property="og:site_name" content="Example News">
  <meta property="og:url" content="https://news.example/uk-openai">
  <meta name="author" content="Ann Smith">
  <meta property="article:published_time" content="2025-07-22T08:30:00+01:00">
  <style>body { color: red }</style>
  <script>var tracking = 1;</script>
</head>
<body>
  <nav><a href="/">Home</a> <a href="/world">World</a></nav>
  <article>
    <h1>UK signs   OpenAI
        deal</h1>
    <p>The agreement was <b>signed</b> <a href="#">yesterday</a>.</p>
    <script>alert(1)</script>
    <noscript>Enable JavaScript</noscript>
    <div style="display: none">Hidden promo</div>
    <p hidden>Also hidden</p>
    <span aria-hidden="true">icon</span>
    <ul><li>First point</li><li>Second<br>line</li></ul>
    <table><tr><td>A</td><td>B</td></tr></table>
    <!-- a comment -->
    <p>Caf&eacute; &amp; more&nbsp;text.</p>
  </article>
  <aside><article><p>Short teaser</p></article></aside>
  <footer>Copyright</footer>
</body></html>
"""


class TestHtml:
    def test_visible_article_text_with_paragraphs(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "page.html", HTML_PAGE))
        assert article.text == (
            "UK signs OpenAI deal\n\nThe agreement was signed yesterday.\n\n"
            "First point\n\nSecond\n\nline\n\nA B\n\nCafé & more text."
        )

    def test_scripts_and_hidden_elements_never_in_text(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "page.htm", HTML_PAGE))
        for junk in [
            "alert(1)",
            "tracking",
            "color: red",
            "Enable JavaScript",
            "Hidden promo",
            "Also hidden",
            "icon",
            "a comment",
            "Home",
            "Short teaser",
            "Copyright",
        ]:
            assert junk not in article.text

    def test_meta_tags(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "page.html", HTML_PAGE))
        assert article.title == "UK signs OpenAI deal"
        assert article.source == "Example News"
        assert article.url == "https://news.example/uk-openai"
        assert article.author == "Ann Smith"
        assert article.published == dt.date(2025, 7, 22)
        assert article.doc_id == "page.html"

    def test_title_tag_canonical_and_body_fallback(self, tmp_path: Path) -> None:
        page = (
            "<html><head><title> Plain   title </title>"
            '<link rel="canonical" href="https://x.org/a"></head>'
            "<body><div>One</div><div>Two <i>three</i></div>"
            "<script>alert(1)</script></body></html>"
        )
        article = load_one(write(tmp_path, "p.html", page))
        assert article.title == "Plain title"
        assert article.url == "https://x.org/a"
        assert article.text == "One\n\nTwo three"

    def test_h1_title_main_and_json_ld(self, tmp_path: Path) -> None:
        ld = {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "WebPage"},
                {
                    "@type": "NewsArticle",
                    "datePublished": "2025-07-22",
                    "author": [{"@type": "Person", "name": "Bob Jones"}],
                    "publisher": {"@type": "Organization", "name": "LD News"},
                },
            ],
        }
        page = (
            f'<script type="application/ld+json">{json.dumps(ld)}</script>'
            "<header>Masthead</header><main><h1>Heading title</h1><p>Main text.</p></main>"
        )
        article = load_one(write(tmp_path, "p.html", page))
        assert article.title == "Heading title"
        assert article.text == "Heading title\n\nMain text."
        assert article.source == "LD News"
        assert article.author == "Bob Jones"
        assert article.published == dt.date(2025, 7, 22)

    def test_no_title_anywhere_uses_file_name(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "some_page.html", "<p>Just text</p>"))
        assert article.title == "Some page"

    def test_page_without_visible_text_fails(self, tmp_path: Path) -> None:
        page = "<html><head><title>T</title></head><body><script>x()</script></body></html>"
        assert load_error(write(tmp_path, "p.html", page)).reason == "no article text"
