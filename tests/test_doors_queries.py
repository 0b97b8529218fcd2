"""Bad input thrown at the question and filter doors (Hypothesis); the loader door is in
test_doors.py.

Each door runs the `ci` profile's 500 examples in CI and 40 locally (see conftest.py).

- Questions and filters: `rag.query` returns an `Answer` whose citations obey the filters, or
  raises the documented `ValueError` (empty question, malformed filters). Fast fake embedder for
  the 500 examples; the real MiniLM for a smaller run.
- Filter sets: the dense side (Chroma `where`) and the BM25 side admit the same chunks.
"""

import datetime as dt
import random

import pytest
import yaml
from conftest import FakeEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from newsdata import write_corpus
from support import json_values

import rag
import rag.pipeline
from ingest import Ingestor
from rag.pipeline import Pipeline
from rag.records import Answer, Filters
from rag.settings import Settings

# ----- the question door -----------------------------------------------------------------------
STOP_WORDS = ["the", "a", "of", "and", "is", "what", "who", "to", "in", "it", "was", "on", "be"]
SCRIPTS = st.sampled_from(
    [
        (0x0600, 0x06FF),
        (0x0900, 0x097F),
        (0x4E00, 0x4FFF),
        (0x0400, 0x04FF),
        (0x0E00, 0x0E7F),
        (0x1F300, 0x1F5FF),
        (0x0590, 0x05FF),
    ]
)


@st.composite
def questions(draw) -> str:  # noqa: ANN001
    kind = draw(
        st.sampled_from(["text", "empty", "blank", "control", "stop", "script", "huge", "real"])
    )
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "empty":
        return ""
    if kind == "blank":
        return draw(st.text(" \t\n\r\x0b\x0c\u00a0\u2003\u3000", max_size=20))
    if kind == "control":
        return draw(st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), max_size=50))
    if kind == "stop":
        return " ".join(draw(st.lists(st.sampled_from(STOP_WORDS), min_size=1, max_size=20)))
    if kind == "script":
        lo, hi = draw(SCRIPTS)
        return draw(
            st.text(st.characters(min_codepoint=lo, max_codepoint=hi), min_size=1, max_size=80)
        )
    if kind == "huge":
        rng = random.Random(draw(st.integers(0, 2**32)))
        vocab = ["bridge", "harbour", "cost", "chess", "wheat", "\x00", "ü", "的", "?", "\n"]
        text = " ".join(rng.choice(vocab) for _ in range(25_000))
        return text[: draw(st.integers(50_000, 100_000))]
    base = draw(
        st.sampled_from(
            [
                "How much will the harbour bridge cost?",
                "Who won the chess championship?",
                "wheat harvest",
            ]
        )
    )
    return base + draw(st.text(max_size=20))


SOURCES = ["Coastal Herald", "Farm Weekly", "Tech Ledger", "Culture Daily", "Nobody", ""]
DOC_IDS = ["harbour-bridge.md", "wheat-harvest.md", "chess-final.md", "no-such.md"]
good_filters = st.builds(
    Filters,
    sources=st.one_of(st.none(), st.lists(st.sampled_from(SOURCES), max_size=3)),
    since=st.one_of(st.none(), st.dates(dt.date(2023, 6, 1), dt.date(2025, 12, 31))),
    until=st.one_of(st.none(), st.dates(dt.date(2023, 6, 1), dt.date(2025, 12, 31))),
    doc_ids=st.one_of(st.none(), st.lists(st.sampled_from(DOC_IDS), max_size=3)),
)
filter_dicts = st.one_of(
    st.none(),
    good_filters,
    good_filters.map(lambda f: f.model_dump(mode="json", exclude_none=True)),
    st.dictionaries(
        st.sampled_from(["sources", "since", "until", "doc_ids", "bogus"]), json_values, max_size=4
    ),
)


def check_query(question: str, filters) -> None:  # noqa: ANN001
    """`rag.query`'s contract: an Answer obeying the filters, or ValueError."""
    try:
        answer = rag.query(question, filters=filters)
    except ValueError:
        blank = not question.strip()
        bad_filters = isinstance(filters, dict) and _invalid(filters)
        assert blank or bad_filters, "ValueError for a valid question and filters"
        return
    assert question.strip(), "a blank question must be refused"
    assert isinstance(answer, Answer) and isinstance(answer.text, str)
    f = filters if isinstance(filters, Filters) or filters is None else Filters(**filters)
    for c in answer.citations:
        assert c.quote in c.passage
        if f is None:
            continue
        if f.sources:
            assert c.source in f.sources
        if f.doc_ids:
            assert c.doc_id in f.doc_ids
        if f.since:
            assert c.published and c.published >= f.since.isoformat()
        if f.until:
            assert c.published and c.published <= f.until.isoformat()


def _invalid(filters: dict) -> bool:
    try:
        Filters.model_validate(filters)
    except ValueError:
        return True
    return False


@pytest.fixture(scope="module")
def fake_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    root = tmp_path_factory.mktemp("qdoor")
    s = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="qdoor")
    write_corpus(s.corpus_dir)
    (s.corpus_dir / "undated.txt").write_text("An undated note about the harbour bridge cost.")
    Ingestor(s, embedder=FakeEmbedder()).run()
    return Pipeline(s, embedder=FakeEmbedder())


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None
)
@given(question=questions(), filters=filter_dicts)
def test_query_answers_or_raises_value_error(
    fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, question: str, filters
) -> None:  # noqa: ANN001
    monkeypatch.setattr(rag.pipeline, "get_pipeline", lambda settings=None: fake_pipeline)
    check_query(question, filters)


@pytest.mark.slow
@settings(
    max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(question=questions(), filters=filter_dicts)
def test_query_with_the_real_model(news_settings: Settings, question: str, filters) -> None:  # noqa: ANN001
    pipe = rag.get_pipeline(news_settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rag.pipeline, "get_pipeline", lambda settings=None: pipe)
        check_query(question, filters)


# ----- the filter door -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def filter_store(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """Twenty tiny articles: three sources and none, dated across 2024 and undated."""
    root = tmp_path_factory.mktemp("fdoor")
    s = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="fdoor")
    s.corpus_dir.mkdir()
    rng = random.Random(7)
    for i in range(20):
        meta = {"title": f"Story {i}"}
        if i % 4:
            meta["source"] = SOURCES[i % 3]
        if i % 5:
            meta["published"] = (
                dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(365))
            ).isoformat()
        body = f"Story {i} tells of the harbour and the bridge, item {i}."
        (s.corpus_dir / f"s{i:02}.md").write_text(f"---\n{yaml.safe_dump(meta)}---\n{body}\n")
    Ingestor(s, embedder=FakeEmbedder()).run()
    return Pipeline(s, embedder=FakeEmbedder())


FILTER_DOC_IDS = [f"s{i:02}.md" for i in range(22)]
random_filters = st.builds(
    Filters,
    sources=st.one_of(st.none(), st.lists(st.sampled_from(SOURCES), max_size=4)),
    since=st.one_of(st.none(), st.dates(dt.date(2023, 12, 1), dt.date(2025, 1, 31))),
    until=st.one_of(st.none(), st.dates(dt.date(2023, 12, 1), dt.date(2025, 1, 31))),
    doc_ids=st.one_of(st.none(), st.lists(st.sampled_from(FILTER_DOC_IDS), max_size=6)),
)


@given(filters=random_filters)
def test_dense_and_bm25_sides_admit_the_same_chunks(filter_store: Pipeline, filters) -> None:  # noqa: ANN001
    store, index = filter_store.store, filter_store.bm25.current()
    n = store.count()
    vector = FakeEmbedder().encode(["harbour bridge"])[0]
    dense = {h.chunk_id for h in store.dense_search(vector, n, filters)}
    mask = index.allowed(filters)
    lexical = (
        set(index.ids) if mask is None else {c for c, ok in zip(index.ids, mask, strict=True) if ok}
    )
    assert dense == lexical
