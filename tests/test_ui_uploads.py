"""Upload sanitizing: names from the browser must never escape or clobber the corpus folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ui.uploads import UploadError, safe_name, save_upload, save_uploads


@pytest.mark.parametrize(
    "name,expected",
    [
        ("article.md", "article.md"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\x.md", "x.md"),
        ("C:\\Users\\me\\news.HTML", "news.html"),
        (".hidden.txt", "hidden.txt"),
        ("...txt.md", "txt.md"),
        ("my report (final).pdf", "my report _final_.pdf"),
        ("Über die Lage.md", "Über die Lage.md"),
        ("tab\there.txt", "tabhere.txt"),
        ("a/b/c/dump.jsonl", "dump.jsonl"),
    ],
)
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [".env", "..", "../", "noext", "run.sh", "x.exe", "evil.md.sh", ".txt", "..\\.md", ""],
)
def test_safe_name_rejects(name: str) -> None:
    with pytest.raises(UploadError):
        safe_name(name)


def test_long_name_is_cut_keeping_extension() -> None:
    name = safe_name("a" * 500 + ".txt")
    assert name.endswith(".txt") and len(name) <= 120


def _upload(tmp_path: Path, name: str, data: bytes) -> Path:
    d = tmp_path / "upload" / str(len(list((tmp_path).glob("upload/*"))))
    d.mkdir(parents=True)
    p = d / name
    p.write_bytes(data)
    return p


def test_traversal_lands_inside_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    src = _upload(tmp_path, "x.txt", b"hello")
    saved = save_upload(src, "../../etc/passwd.txt", corpus, 1000)
    assert saved == corpus.resolve() / "passwd.txt"
    assert saved.read_bytes() == b"hello"
    assert not (tmp_path / "etc").exists()


def test_collision_gets_a_suffix_and_never_overwrites(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("original")
    first = save_upload(_upload(tmp_path, "a.md", b"one"), "a.md", corpus, 1000)
    second = save_upload(_upload(tmp_path, "a.md", b"two"), "a.md", corpus, 1000)
    assert (first.name, second.name) == ("a-1.md", "a-2.md")
    assert (corpus / "a.md").read_text() == "original"


def test_symlink_in_corpus_is_not_followed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    os.symlink(outside, corpus / "n.txt")
    saved = save_upload(_upload(tmp_path, "n.txt", b"new"), "n.txt", corpus, 1000)
    assert saved.name == "n-1.txt"
    assert outside.read_text() == "keep"


def test_too_large_and_empty_are_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    with pytest.raises(UploadError, match="over the upload limit"):
        save_upload(_upload(tmp_path, "big.txt", b"x" * 11), "big.txt", corpus, 10)
    with pytest.raises(UploadError, match="empty"):
        save_upload(_upload(tmp_path, "e.txt", b""), "e.txt", corpus, 10)
    assert not corpus.exists() or not any(corpus.iterdir())


def test_save_uploads_reports_each_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    files = [
        _upload(tmp_path, "good.md", b"# Title\n\ntext"),
        _upload(tmp_path, "bad.exe", b"MZ"),
        _upload(tmp_path, "big.txt", b"x" * 100),
    ]
    result = save_uploads(files, corpus, 50)
    assert [p.name for p in result.saved] == ["good.md"]
    reasons = dict(result.rejected)
    assert "not ingested" in reasons["bad.exe"]
    assert "upload limit" in reasons["big.txt"]
    assert "saved good.md" in result.message() and "refused bad.exe" in result.message()
    assert sorted(p.name for p in corpus.iterdir()) == ["good.md"]
