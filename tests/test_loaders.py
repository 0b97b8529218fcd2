"""Loaders: every format, metadata, doc_id rules and every kind of bad input. Fast, no model."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pickle
from pathlib import Path

import pypdf
import pytest

from ingest.loaders import (
    LOADERS,
    SUPPORTED_EXTENSIONS,
    LoadError,
    LoadResult,
    discover,
    load_file,
    parse_date,
)
from rag.models import normalize_text

MAX = 20 * 1024 * 1024


def write(root: Path, name: str, content: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load(path: Path, root: Path | None = None, max_bytes: int = MAX) -> LoadResult:
    return load_file(path, root if root is not None else path.parent, max_bytes=max_bytes)


def load_one(path: Path, root: Path | None = None):
    result = load(path, root)
    assert len(result.articles) == 1, result
    assert result.problems == []
    return result.articles[0]


def load_error(path: Path, root: Path | None = None, max_bytes: int = MAX) -> LoadError:
    with pytest.raises(LoadError) as info:
        load(path, root, max_bytes)
    return info.value


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF with one text line per page (Helvetica), written by hand."""
    n = len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{4 + 2 * i} 0 R".encode() for i in range(n))
        + f"] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info_ref = b""
    if title is not None:
        objects.append(f"<< /Title ({title}) /Author (Jane Doe) >>".encode("latin-1"))
        info_ref = f" /Info {len(objects)} 0 R".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R".encode()
        + info_ref
        + f" >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------------------------


class TestDiscover:
    def test_supported_and_other_files_sorted_recursively(self, tmp_path: Path) -> None:
        for name in ["b.txt", "a.md", "sub/deep/c.HTML", "sub/d.jsonl", "e.pdf", "f.json"]:
            write(tmp_path, name, "x")
        write(tmp_path, "notes.docx", "x")
        write(tmp_path, "sub/README", "x")
        supported, others = discover(tmp_path)
        rel = [p.relative_to(tmp_path).as_posix() for p in supported]
        assert rel == sorted(rel)
        assert set(rel) == {"a.md", "b.txt", "e.pdf", "f.json", "sub/d.jsonl", "sub/deep/c.HTML"}
        assert [p.relative_to(tmp_path).as_posix() for p in others] == ["notes.docx", "sub/README"]

    def test_hidden_files_and_directories_skipped(self, tmp_path: Path) -> None:
        write(tmp_path, "visible.txt", "x")
        write(tmp_path, ".hidden.txt", "x")
        write(tmp_path, ".git/config.txt", "x")
        write(tmp_path, "sub/.cache/x.md", "x")
        write(tmp_path, "sub/.DS_Store", "x")
        supported, others = discover(tmp_path)
        assert supported == [tmp_path / "visible.txt"]
        assert others == []

    def test_symlinks_outside_root_skipped_inside_followed(self, tmp_path: Path) -> None:
        root = tmp_path / "corpus"
        outside = write(tmp_path, "outside/secret.txt", "x")
        inside = write(root, "real/a.txt", "x")
        (root / "link-out.txt").symlink_to(outside)
        (root / "dir-out").symlink_to(outside.parent, target_is_directory=True)
        (root / "link-in.txt").symlink_to(inside)
        (root / "real" / "loop").symlink_to(root / "real", target_is_directory=True)
        supported, _ = discover(root)
        rel = [p.relative_to(root).as_posix() for p in supported]
        assert rel == ["link-in.txt", "real/a.txt"]

    def test_hidden_root_itself_is_walked(self, tmp_path: Path) -> None:
        root = tmp_path / ".corpus"
        write(root, "a.txt", "x")
        assert discover(root) == ([root / "a.txt"], [])

    def test_root_may_be_a_single_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "one.md", "x")
        assert discover(path) == ([path], [])
        other = write(tmp_path, "one.odt", "x")
        assert discover(other) == ([], [other])

    def test_missing_root_raises(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            discover(tmp_path / "nope")

    def test_supported_extensions(self) -> None:
        assert SUPPORTED_EXTENSIONS == {
            ".txt",
            ".md",
            ".markdown",
            ".html",
            ".htm",
            ".json",
            ".jsonl",
            ".pdf",
        }


class TestFormatTable:
    """`LOADERS` is the one place a format is wired in: discovery and loading both follow it."""

    def test_every_extension_is_discovered_and_read_by_its_own_format(self, tmp_path: Path) -> None:
        samples: dict[str, tuple[str | bytes, str]] = {  # extension → (content, expected text)
            ".txt": ("<b>Raw</b> **text** stays.", "<b>Raw</b> **text** stays."),
            ".md": ("**Bold** text.", "Bold text."),
            ".markdown": ("_Em_ text.", "Em text."),
            ".html": ("<p><b>Bold</b> page.</p><script>x()</script>", "Bold page."),
            ".htm": ("<p><i>Old</i> page.</p>", "Old page."),
            ".json": ('{"title": "T", "text": "Json body."}', "Json body."),
            ".jsonl": ('{"title": "T", "text": "Line body."}\n', "Line body."),
            ".pdf": (make_pdf(["Pdf body."]), "Pdf body."),
        }
        assert set(samples) == set(LOADERS)  # a new format comes with its sample here
        paths = {ext: write(tmp_path, f"a{ext}", content) for ext, (content, _) in samples.items()}
        assert discover(tmp_path) == (sorted(paths.values()), [])
        for ext, (_, expected) in samples.items():
            assert load_one(paths[ext]).text == expected, ext

    def test_extension_case_does_not_matter(self, tmp_path: Path) -> None:
        path = write(tmp_path, "PAGE.HTML", "<p><b>Shouting</b> name.</p>")
        assert discover(tmp_path) == ([path], [])
        assert load_one(path).text == "Shouting name."


class TestText:
    def test_whole_file_is_the_text_and_title_from_name(self, tmp_path: Path) -> None:
        body = "First paragraph.\r\n\r\n\r\nSecond   paragraph.  \n"
        article = load_one(write(tmp_path, "uk-openai_partnership.txt", body))
        assert article.text == normalize_text(body) == "First paragraph.\n\nSecond   paragraph."
        assert article.title == "Uk openai partnership"
        assert article.doc_id == article.path == "uk-openai_partnership.txt"
        assert (article.source, article.url, article.author, article.published) == (
            "",
            "",
            "",
            None,
        )

    def test_utf8_bom_removed(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "a.txt", "Café".encode("utf-8-sig")))
        assert article.text == "Café"

    def test_utf16_with_bom(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "a.txt", "Zoë’s story".encode("utf-16")))
        assert article.text == "Zoë’s story"


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


class TestJson:
    def test_single_object_is_a_one_article_file(self, tmp_path: Path) -> None:
        record = {
            "headline": "Deal signed",
            "body": "Text of the article.",
            "url": "https://x.org/deal",
            "publisher": {"name": "Wire"},
            "published_at": "2025-07-22T10:00:00Z",
            "authors": ["Ann", "Bob"],
        }
        article = load_one(write(tmp_path, "one.json", json.dumps(record)))
        assert article.doc_id == "one.json"  # one-article file: its path, not the url
        assert article.title == "Deal signed"
        assert article.text == "Text of the article."
        assert article.url == "https://x.org/deal"
        assert article.source == "Wire"
        assert article.author == "Ann, Bob"
        assert article.published == dt.date(2025, 7, 22)

    @pytest.mark.parametrize("key", ["articles", "items", "data"])
    def test_wrapped_list(self, tmp_path: Path, key: str) -> None:
        data = {key: [{"title": "A", "content": "Alpha."}, {"title": "B", "article": "Beta."}]}
        result = load(write(tmp_path, "dump.json", json.dumps(data)))
        assert [a.text for a in result.articles] == ["Alpha.", "Beta."]
        assert [a.doc_id for a in result.articles] == ["dump.json#0", "dump.json#1"]
        assert all(a.path == "dump.json" for a in result.articles)

    def test_list_with_bad_records_reports_problems(self, tmp_path: Path) -> None:
        data = [{"title": "A", "text": "Alpha."}, {"title": "no text"}, "a string", {"text": " "}]
        result = load(write(tmp_path, "dump.json", json.dumps(data)))
        assert [a.text for a in result.articles] == ["Alpha."]
        assert [loc for loc, _ in result.problems] == [
            "dump.json[1]",
            "dump.json[2]",
            "dump.json[3]",
        ]
        assert "no article text" in result.problems[0][1]
        assert "not a JSON object" in result.problems[1][1]

    def test_html_body_and_paragraph_list(self, tmp_path: Path) -> None:
        data = [
            {"title": "H", "content": "<p>One <b>bold</b>.</p><script>alert(1)</script><p>Two</p>"},
            {"title": "L", "text": ["Para one.", "Para two."]},
        ]
        result = load(write(tmp_path, "dump.json", json.dumps(data)))
        assert [a.text for a in result.articles] == ["One bold.\n\nTwo", "Para one.\n\nPara two."]

    def test_record_without_title_uses_first_line(self, tmp_path: Path) -> None:
        words = " ".join(["word"] * 40)
        data = [{"text": f"{words}\nSecond line."}]
        article = load(write(tmp_path, "dump.json", json.dumps(data))).articles[0]
        assert article.title.endswith("…") and len(article.title) <= 81
        assert article.title.startswith("word word")

    def test_json_lines_saved_as_json(self, tmp_path: Path) -> None:
        content = '{"text": "A."}\n{"text": "B."}\n'
        result = load(write(tmp_path, "dump.json", content))
        assert [a.text for a in result.articles] == ["A.", "B."]

    def test_all_records_fail(self, tmp_path: Path) -> None:
        err = load_error(write(tmp_path, "dump.json", json.dumps([{"title": "x"}, 3])))
        assert err.reason.startswith("no usable article: 2 records, all failed (first: record 0:")

    def test_empty_list_and_scalar(self, tmp_path: Path) -> None:
        assert "empty" in load_error(write(tmp_path, "a.json", "[]")).reason
        assert "not an article" in load_error(write(tmp_path, "b.json", "42")).reason


class TestJsonl:
    def test_malformed_line_reported_others_load(self, tmp_path: Path) -> None:
        lines = [
            json.dumps({"title": "One", "text": "First.", "url": "https://x.org/1"}),
            "",
            '{"title": "Broken" "text": "x"}',
            json.dumps({"title": "Three", "text": "Third.", "id": 77}),
            "   ",
            json.dumps({"title": "Four", "text": "Fourth."}),
        ]
        result = load(write(tmp_path, "feeds/dump.jsonl", "\n".join(lines) + "\n"), tmp_path)
        assert [a.title for a in result.articles] == ["One", "Three", "Four"]
        assert [a.doc_id for a in result.articles] == [
            "https://x.org/1",
            "feeds/dump.jsonl#77",
            "feeds/dump.jsonl#3",
        ]
        assert result.problems == [
            ("feeds/dump.jsonl:3", "malformed JSON: Expecting ',' delimiter at column 20")
        ]

    def test_duplicate_doc_ids_keep_first(self, tmp_path: Path) -> None:
        lines = [
            {"url": "https://x.org/a", "text": "First copy."},
            {"url": "https://x.org/a", "text": "Second copy."},
            {"id": "k", "text": "K1."},
            {"id": "k", "text": "K2."},
        ]
        content = "\n".join(json.dumps(line) for line in lines)
        result = load(write(tmp_path, "d.jsonl", content))
        assert [a.text for a in result.articles] == ["First copy.", "K1."]
        assert [loc for loc, _ in result.problems] == ["d.jsonl:2", "d.jsonl:4"]
        assert "duplicate doc_id 'https://x.org/a' (first at d.jsonl:1)" in result.problems[0][1]

    def test_all_lines_fail(self, tmp_path: Path) -> None:
        content = '{bad\n{"title": "no text"}\n{also bad\n'
        err = load_error(write(tmp_path, "d.jsonl", content))
        assert err.path == "d.jsonl"
        assert err.reason.startswith(
            "no usable article: 3 records, all failed (first: line 1: malformed JSON"
        )

    def test_pretty_printed_json_saved_as_jsonl(self, tmp_path: Path) -> None:
        content = json.dumps([{"title": "T", "text": "Body."}], indent=2)
        result = load(write(tmp_path, "d.jsonl", content))
        assert [a.text for a in result.articles] == ["Body."]


class TestPdf:
    def test_pages_joined_and_metadata(self, tmp_path: Path) -> None:
        data = make_pdf(["Page one text.", "Page two text."], title="PDF Title")
        article = load_one(write(tmp_path, "report.pdf", data))
        assert article.text == "Page one text.\n\nPage two text."
        assert article.title == "PDF Title"
        assert article.author == "Jane Doe"
        assert article.doc_id == "report.pdf"

    def test_title_from_name_without_metadata(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "annual-report.pdf", make_pdf(["Hello."])))
        assert article.title == "Annual report"

    def test_encrypted_with_empty_user_password_opens(self, tmp_path: Path) -> None:
        data = encrypt_pdf(make_pdf(["Secret text."]), user_password="")
        assert load_one(write(tmp_path, "e.pdf", data)).text == "Secret text."

    def test_encrypted_needing_password_fails(self, tmp_path: Path) -> None:
        data = encrypt_pdf(make_pdf(["Secret text."]), user_password="pw")
        err = load_error(write(tmp_path, "locked.pdf", data))
        assert err.reason == "encrypted PDF, needs a password"

    def test_broken_pdf(self, tmp_path: Path) -> None:
        err = load_error(write(tmp_path, "broken.pdf", b"%PDF-1.4\nthis is not a pdf at all\n"))
        assert err.reason.startswith("broken PDF")

    def test_pdf_without_text(self, tmp_path: Path) -> None:
        err = load_error(write(tmp_path, "scan.pdf", make_pdf([""])))
        assert err.reason.startswith("no article text")


class TestBadInput:
    def test_empty_file(self, tmp_path: Path) -> None:
        for name in ["e.txt", "e.md", "e.html", "e.json", "e.jsonl", "e.pdf"]:
            err = load_error(write(tmp_path, name, b""))
            assert (err.path, err.reason) == (name, "empty file")
            assert str(err) == f"{name}: empty file"

    def test_whitespace_only_file(self, tmp_path: Path) -> None:
        assert load_error(write(tmp_path, "w.txt", "  \n\n\t\n")).reason == "empty file"

    def test_binary_with_nul_bytes(self, tmp_path: Path) -> None:
        data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
        for name in ["img.txt", "img.md", "img.json", "img.html"]:
            assert load_error(write(tmp_path, name, data)).reason == "binary content, not text"

    def test_binary_without_nul_bytes(self, tmp_path: Path) -> None:
        data = bytes(range(1, 32)) * 200 + b"some text"
        assert load_error(write(tmp_path, "b.txt", data)).reason == "binary content, not text"

    def test_invalid_utf8_decoded_with_fallback_and_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        cp1252 = "Caf\u00e9 \u201cquoted\u201d \u20ac5".encode("cp1252")
        mixed = "na\u00efve UTF-8 ".encode() + b"and a stray \x92 quote"
        with caplog.at_level(logging.WARNING, logger="ingest.loaders"):
            assert load_one(write(tmp_path, "cp.txt", cp1252)).text == "Café “quoted” €5"
            assert load_one(write(tmp_path, "mixed.md", mixed)).text == (
                "naïve UTF-8 and a stray \u2019 quote"
            )
            assert load_one(write(tmp_path, "l1.txt", b"undefined \x81 byte")).text == (
                "undefined \x81 byte"
            )
        assert "cp.txt" in caplog.text and "mixed.md" in caplog.text

    def test_text_with_a_few_control_characters_is_still_text(self, tmp_path: Path) -> None:
        article = load_one(write(tmp_path, "f.txt", "Page one.\f\nPage two.\x1b done."))
        assert article.text.startswith("Page one.")

    def test_malformed_json(self, tmp_path: Path) -> None:
        err = load_error(write(tmp_path, "bad.json", '{"title": "x",\n "text": }'))
        assert err.path == "bad.json"
        assert err.reason == "malformed JSON: Expecting value (line 2, column 10)"

    def test_no_text_after_extraction(self, tmp_path: Path) -> None:
        assert load_error(write(tmp_path, "n.md", "---\ntitle: T\n---\n\n")).reason == (
            "no article text"
        )
        assert load_error(write(tmp_path, "n.html", "<p> </p><!-- x -->")).reason == (
            "no article text"
        )
        err = load_error(write(tmp_path, "n.json", '{"title": "Only a title"}'))
        assert err.reason.startswith("no article text")

    def test_too_large_checked_before_reading(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "huge.txt"
        with path.open("wb") as fh:  # sparse: 25.3 MB on paper, nothing on disk
            fh.truncate(int(25.3 * 1024 * 1024))

        def no_read(*args: object, **kwargs: object) -> None:
            raise AssertionError("file was opened")

        monkeypatch.setattr(Path, "open", no_read)
        err = load_error(path)
        assert err.reason == "file is 25.3 MB, over the 20.0 MB limit (NEWSRAG_MAX_FILE_BYTES)"

    def test_small_limit_message(self, tmp_path: Path) -> None:
        err = load_error(write(tmp_path, "a.txt", "x" * 2048), max_bytes=1024)
        assert err.reason == "file is 2.0 KB, over the 1.0 KB limit (NEWSRAG_MAX_FILE_BYTES)"

    def test_directory_named_like_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "x.txt").mkdir()
        err = load_error(tmp_path / "x.txt", tmp_path)
        assert (err.path, err.reason) == ("x.txt", "cannot read: is a directory")

    def test_broken_symlink(self, tmp_path: Path) -> None:
        (tmp_path / "gone.md").symlink_to(tmp_path / "missing.md")
        err = load_error(tmp_path / "gone.md", tmp_path)
        assert err.path == "gone.md"
        assert err.reason.startswith("cannot read: broken symlink")

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
    def test_permission_denied(self, tmp_path: Path) -> None:
        path = write(tmp_path, "locked.txt", "text")
        path.chmod(0)
        try:
            assert load_error(path).reason.startswith("cannot read: ")
        finally:
            path.chmod(0o644)

    def test_fifo_is_not_a_regular_file(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.txt")
        assert load_error(tmp_path / "pipe.txt").reason == "cannot read: not a regular file"

    def test_unexpected_exception_wrapped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from ingest.loaders import html

        def boom(*args: object, **kwargs: object) -> None:
            raise RuntimeError("parser exploded")

        monkeypatch.setattr(html, "BeautifulSoup", boom)
        err = load_error(write(tmp_path, "p.html", "<p>x</p>"))
        assert (err.path, err.reason) == ("p.html", "unreadable: parser exploded")

    def test_unexpected_exception_in_one_record_is_a_problem(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from ingest.loaders import html

        def boom(markup: str) -> str:
            raise RuntimeError("bad html")

        monkeypatch.setattr(html, "html_to_text", boom)
        lines = [{"text": "<p>html body</p>"}, {"text": "Plain body."}]
        result = load(write(tmp_path, "d.jsonl", "\n".join(json.dumps(x) for x in lines)))
        assert [a.text for a in result.articles] == ["Plain body."]
        assert result.problems == [("d.jsonl:1", "unreadable: bad html")]

    def test_unsupported_extension(self, tmp_path: Path) -> None:
        assert "unsupported" in load_error(write(tmp_path, "a.docx", "x")).reason

    def test_load_error_pickles(self) -> None:
        err = pickle.loads(pickle.dumps(LoadError("a/b.txt", "empty file")))
        assert (err.path, err.reason, str(err)) == ("a/b.txt", "empty file", "a/b.txt: empty file")


class TestDocIds:
    def test_relative_posix_path_in_nested_folders(self, tmp_path: Path) -> None:
        path = write(tmp_path, "2025/07/story.txt", "Text.")
        article = load_one(path, tmp_path)
        assert article.doc_id == article.path == "2025/07/story.txt"

    def test_root_is_the_file_itself(self, tmp_path: Path) -> None:
        path = write(tmp_path, "2025/story.md", "Text.")
        assert load_one(path, path).doc_id == "story.md"

    def test_relative_root_and_absolute_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = write(tmp_path, "corpus/sub/a.txt", "Text.")
        monkeypatch.chdir(tmp_path)
        assert load_one(path.resolve(), Path("corpus")).doc_id == "sub/a.txt"

    def test_stable_across_loads(self, tmp_path: Path) -> None:
        path = write(tmp_path, "d.jsonl", '{"text": "A."}\n{"id": "x", "text": "B."}\n')
        first = [a.doc_id for a in load(path).articles]
        second = [a.doc_id for a in load(path).articles]
        assert first == second == ["d.jsonl#0", "d.jsonl#x"]


class TestDates:
    @pytest.mark.parametrize(
        "value",
        [
            "2025-07-22",
            "2025-07-22T23:30:00-05:00",
            "2025-07-22T10:00:00Z",
            "2025-07-22T10:00:00.123Z",
            "July 22, 2025",
            "Jul 22 2025",
            "Tuesday, July 22nd, 2025",
            "22 July 2025",
            "22 Jul. 2025",
            "Tue, 22 Jul 2025 10:00:00 +0000",
            "2025/07/22",
            1753178400,
            1753178400000,
            dt.date(2025, 7, 22),
            dt.datetime(2025, 7, 22, 10, 0),
        ],
    )
    def test_parsed(self, value: object) -> None:
        assert parse_date(value) == dt.date(2025, 7, 22)

    @pytest.mark.parametrize("value", ["", "soon", "2025-13-45", "Smarch 3, 2025", None, True, 7])
    def test_unparseable_is_none(self, value: object) -> None:
        assert parse_date(value) is None
