"""Loaders: discovery, the format table, plain text, every kind of bad input, doc_id rules and
dates. Fast, no model. The formats have their own files: test_loaders_markdown_html.py and
test_loaders_json_pdf.py; the shared helpers (write, load, make_pdf, ...) are in support.py."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
from pathlib import Path

import pytest
from support import load, load_error, load_one, make_pdf, write

from ingest.loaders import (
    LOADERS,
    SUPPORTED_EXTENSIONS,
    LoadError,
    discover,
    parse_date,
)
from rag.records import normalize_text


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
