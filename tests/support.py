"""Helpers shared by test modules (kept out of conftest.py so fixture modules can import them)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pypdf
import pytest
from hypothesis import strategies as st

from ingest.loaders import LoadError, LoadResult, load_file
from rag.records import Answer, Citation
from rag.settings import Settings


def free_port() -> int:
    """A local port that was free a moment ago (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require(condition: bool, what: str) -> None:
    """Skip a test whose external part is missing on a developer's machine; in CI (`CI` set),
    where `.ci/run` installs everything, a missing part is a failure, never a silent skip."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must install it)")
    pytest.skip(what)


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float, log_tail) -> None:  # noqa: ANN001
    """Poll `url` until it answers 200; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{url}: the server exited with {proc.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url}: the server did not start in {seconds:.0f}s:\n{log_tail()}")
        time.sleep(0.5)


def stop_process(proc: subprocess.Popen, seconds: float = 30) -> None:
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# ----- loader tests: files written to a folder, loaded one at a time, hand-made PDFs ---------

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


# ----- property tests (test_doors*.py): JSON values with the keys the loaders look for --------

META_KEYS = [
    "title",
    "text",
    "body",
    "content",
    "published",
    "date",
    "source",
    "url",
    "author",
    "id",
    "doc_id",
    "articles",
    "items",
    "data",
    "headline",
    "paragraphs",
    "html",
]

words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    words,
    st.dates().map(str),
    st.sampled_from(["2024-02-30", "yesterday", "-1", "1e309", "\ud800"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(META_KEYS), words), inner, max_size=6),
    ),
    max_leaves=40,
)


# ----- LLM tests (test_llm*.py): the question, an LLM pipeline, its stream, checked citations ----

LLM_QUESTION = "How much will the new harbour bridge in Port Ellery cost?"


def make_llm_pipeline(settings: Settings, embedder, **overrides):  # noqa: ANN001, ANN201
    """A pipeline answering with the LLM answerer, `overrides` applied to `settings`."""
    from rag.llm import LLMAnswerer
    from rag.pipeline import Pipeline

    s = settings.model_copy(update=overrides)
    return Pipeline(s, embedder=embedder, answerer=LLMAnswerer(s, embedder=embedder))


def stream_all(pipeline, question: str = LLM_QUESTION) -> tuple[list[str], Answer]:  # noqa: ANN001
    deltas: list[str] = []
    final = None
    for item in pipeline.stream(question):
        if isinstance(item, Answer):
            final = item
        else:
            assert isinstance(item, str)
            deltas.append(item)
    assert final is not None, "the stream must end with an Answer"
    return deltas, final


def assert_llm_answered(answer: Answer) -> None:
    """The answer is the LLM's, not the extractive fallback: every fallback's notice ends in
    "showing the extractive answer" (rag/llm/answerer.py, `_fallback_answer`), and only a
    generation that ran to its end records `llm_ms`."""
    assert "extractive answer" not in answer.notice, answer.notice
    assert "llm_ms" in answer.timings, answer.timings


def assert_checked(answer: Answer) -> None:
    """Every citation checked, its quote a verbatim part of its passage, every [n] cited."""
    import re

    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert numbers <= {c.number for c in answer.citations}
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert c.checked
        assert 0.0 <= c.support <= 1.0
        assert c.quote and c.quote in c.passage
        assert c.quote_end - c.quote_start == len(c.quote)


# ----- UI render tests (test_ui_render.py, test_ui_sources.py): an answer and its citations ----

ARTICLE = "Intro sentence. The minister said rates will rise in May. Closing words."


def citation(**kw) -> Citation:
    """A checked-looking citation of ARTICLE; keyword arguments replace its fields."""
    base = dict(
        number=1,
        doc_id="doc-1",
        chunk_id="doc-1#0",
        title="Rates to rise",
        source="Daily News",
        url="https://news.example/rates",
        published="2024-05-02",
        passage=ARTICLE,
        passage_start=100,
        quote="The minister said rates will rise in May.",
        quote_start=116,
        quote_end=157,
        score=0.8123,
    )
    base.update(kw)
    return Citation(**base)


def answer(**kw) -> Answer:
    """An answer citing `citation()`; keyword arguments replace its fields."""
    base = dict(question="q", text="Rates will rise in May [1].", citations=[citation()])
    base.update(kw)
    return Answer(**base)
