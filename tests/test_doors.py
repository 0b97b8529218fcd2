"""Bad input thrown at the loader door (Hypothesis); the question and filter doors are in
test_doors_queries.py.

Each door runs the `ci` profile's 500 examples in CI and 40 locally (see conftest.py).

Random bytes, truncated UTF-8, deep or huge JSON / JSONL, HTML with scripts, styles, iframes and
broken tags, PDFs cut short, front matter with wrong types. Each case is written into a corpus
beside a good article and a real ingest runs (real Chroma, fake embedder): it never raises,
reports the file or ingests its articles, and never loses the good article.
"""

import json

import pytest
import yaml
from conftest import FakeEmbedder
from hypothesis import example, given
from hypothesis import strategies as st
from support import META_KEYS, json_values, make_pdf, words

from ingest import Ingestor
from rag.settings import Settings

GOOD = """---
title: Lighthouse keeper retires after forty years
source: Coastal Herald
published: 2024-05-01
---

The keeper of the Port Ellery lighthouse retired on Friday after forty years of service.
"""
EXTENSIONS = [".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".pdf"]


# ----- strategies ------------------------------------------------------------------------------
@st.composite
def deep_json(draw) -> str:  # noqa: ANN001
    depth = draw(st.integers(1, 200_000))
    kind = draw(st.sampled_from(["list", "object", "mixed"]))
    if kind == "list":
        text = "[" * depth + "]" * depth
    elif kind == "object":
        text = '{"a":' * depth + "1" + "}" * depth
    else:
        text = '{"articles": [{"title": "x", "text": ' + "[" * depth + '"y"' + "]" * depth + "}]}"
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


@st.composite
def huge_json(draw) -> str:  # noqa: ANN001
    n = draw(st.integers(0, 40))
    body = " ".join(["word"] * draw(st.integers(0, 30_000)))
    recs = [
        {"id": f"r{i}", "title": f"record {i}", "text": body if i == 0 else f"text {i}."}
        for i in range(n)
    ]
    if draw(st.booleans()):
        return "\n".join(json.dumps(r) for r in recs)
    return json.dumps({"articles": recs})


@st.composite
def jsonl(draw) -> str:  # noqa: ANN001
    lines = draw(st.lists(st.one_of(json_values.map(json.dumps), words), max_size=12))
    text = "\n".join(lines)
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


HTML_BITS = [
    "<script>alert('x')</script>",
    "<script>document.write('<p>hidden</p>')",
    "<style>p{}</style>",
    "<style>",
    "<iframe src='http://evil.example'></iframe>",
    "<iframe>",
    "<p>",
    "</p>",
    "<div",
    "</div></div>",
    "<!--",
    "-->",
    "<![CDATA[",
    "<title>",
    "</title>",
    "<h1>",
    "<br/>",
    "&amp;",
    "&#0;",
    "&#xD800;",
    "<meta name='date' content='2024-99-99'>",
    "<article>",
    "<noscript>",
    '<script type="application/ld+json">{"@type": "NewsArticle", "headline": [1]}</script>',
    '<script type="application/ld+json">{"@graph": [[[',
    "<html>",
    "<body hidden>",
    "<table><td>",
]


@st.composite
def html(draw) -> str:  # noqa: ANN001
    parts = draw(st.lists(st.one_of(st.sampled_from(HTML_BITS), words), max_size=30))
    return "".join(parts)


@st.composite
def cut_pdf(draw) -> bytes:  # noqa: ANN001
    pages = draw(
        st.lists(st.text("abcdefgh ()\\xyz.", min_size=1, max_size=30), min_size=1, max_size=3)
    )
    data = make_pdf(pages, title=draw(st.one_of(st.none(), st.just("Title"))))
    cut = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        return data[:cut]
    junk = draw(st.binary(max_size=32))
    return data[:cut] + junk + data[cut + len(junk) :]


@st.composite
def front_matter(draw) -> str:  # noqa: ANN001
    body = draw(st.sampled_from(["", "Body text of the story.", "# Heading\n\nParagraph."]))
    if draw(st.booleans()):  # broken YAML between the fences
        raw = draw(
            st.one_of(
                words,
                st.sampled_from(
                    [
                        "[[[[",
                        "a: [",
                        ": :",
                        "{a: b",
                        "- - -",
                        "a: &x [*x]",
                        "title: !!python/object x",
                    ]
                ),
            )
        )
        return f"---\n{raw}\n---\n{body}\n"
    meta = draw(st.dictionaries(st.sampled_from(META_KEYS), json_values, max_size=6))
    try:
        dumped = yaml.safe_dump(meta, allow_unicode=True)
    except yaml.YAMLError:
        dumped = "title: x\n"
    return f"---\n{dumped}---\n{body}\n"


@st.composite
def truncated_utf8(draw) -> tuple[str, bytes]:  # noqa: ANN001
    text = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=300))
    data = (GOOD.replace("forty", text) if draw(st.booleans()) else text).encode()
    return draw(st.sampled_from(EXTENSIONS)), data[: draw(st.integers(0, len(data)))]


def as_bytes(ext: str, content: str | bytes) -> tuple[str, bytes]:
    return ext, content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")


corpus_files = st.one_of(
    st.tuples(st.sampled_from(EXTENSIONS), st.binary(max_size=2048)),
    truncated_utf8(),
    st.tuples(st.sampled_from([".json", ".jsonl"]), deep_json()).map(lambda t: as_bytes(*t)),
    st.tuples(st.sampled_from([".json", ".jsonl"]), huge_json()).map(lambda t: as_bytes(*t)),
    st.tuples(st.sampled_from([".json", ".jsonl"]), jsonl()).map(lambda t: as_bytes(*t)),
    st.tuples(st.sampled_from([".json", ".jsonl"]), json_values.map(json.dumps)).map(
        lambda t: as_bytes(*t)
    ),
    st.tuples(st.sampled_from([".html", ".htm"]), html()).map(lambda t: as_bytes(*t)),
    st.tuples(st.just(".pdf"), cut_pdf()),
    st.tuples(st.sampled_from([".md", ".markdown", ".txt"]), front_matter()).map(
        lambda t: as_bytes(*t)
    ),
)


# ----- the loader door -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def door_ingestor(tmp_path_factory: pytest.TempPathFactory) -> Ingestor:
    root = tmp_path_factory.mktemp("door")
    s = Settings(
        corpus_dir=root / "corpus",
        store_dir=root / "store",
        collection="door",
        max_file_bytes=400_000,
    )
    s.corpus_dir.mkdir()
    (s.corpus_dir / "a-good.md").write_text(GOOD)
    ing = Ingestor(s, embedder=FakeEmbedder())
    assert ing.run().added == 1
    return ing


@given(case=st.lists(corpus_files, min_size=1, max_size=3))
# Found by CI: a YAML "\\uD800" escape in a title became a lone surrogate that Chroma refused.
@example(case=[(".md", b'---\ntitle: "\\uD800"\n---\nBody text of the story.\n')])
def test_bad_files_never_break_ingest_nor_lose_the_good_article(
    door_ingestor: Ingestor, case: list[tuple[str, bytes]]
) -> None:
    ing = door_ingestor
    corpus = ing.settings.corpus_dir
    for old in corpus.glob("x*"):
        old.unlink()
    names = []
    for i, (ext, data) in enumerate(case):
        name = f"x{i}{ext}"
        (corpus / name).write_bytes(data)
        names.append(name)
    summary = ing.run()  # must not raise, whatever the files hold
    docs = ing.store.documents()
    assert "a-good.md" in docs and docs["a-good.md"].title.startswith("Lighthouse keeper")
    assert not ing.store.pending()
    for name in names:  # each file is reported, or its articles are in the store
        reported = any(f.path == name or f.path.startswith(name) for f in summary.failures)
        stored = any(d.path == name for d in docs.values())
        assert reported or stored, name
    for f in summary.failures:
        assert f.reason and "\n" not in f.reason and "Traceback" not in f.reason
