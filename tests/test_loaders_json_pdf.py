"""Loaders: JSON, JSON Lines and PDF. Fast, no model."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support import encrypt_pdf, load, load_error, load_one, make_pdf, write


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
