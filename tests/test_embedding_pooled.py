"""One encoder pass per chunk (issue 22): the chunk's vector and its sentences' vectors come from
the same forward pass, and a store made the other way is refused, never mixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from ingest import Ingestor
from ingest.chunking import Chunker
from ingest.encoding import embed_articles
from rag.embedding import POOLED, SEPARATE
from rag.pipeline import Pipeline
from rag.records import Article
from rag.settings import Settings
from rag.store import StoreMismatchError, open_store

slow = pytest.mark.slow

HARBOUR = (
    "The Port Ellery harbour reopened on Monday after a storm closed it for a week. "
    "Fishing boats returned with the first catch of the season. "
    "The mayor said repairs to the sea wall would cost four million dollars."
)


def spans_of(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    out = []
    for s in sentences:
        a = text.index(s)
        out.append((a, a + len(s)))
    return out


class SpanFake(FakeEmbedder):
    """The fake's vector of each span's text: right offsets give the sentence's own vector.
    It "did not see" sentence p whole (as if cut by the model's length): NaN, like the model."""

    sentence_vectors = POOLED

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        out = []
        for text, sp in zip(texts, spans, strict=True):
            rows = self.encode([text[a:b] for a, b in sp]) if sp else np.zeros((0, self.dim))
            for k, (a, b) in enumerate(sp):
                if b > len(text) or text[a:b].startswith("Sentence p"):
                    rows[k] = np.nan
            out.append(rows)
        return self.encode(texts), out


def test_each_sentence_vector_is_pooled_from_its_own_words_in_its_chunk() -> None:
    fake = SpanFake()
    body = " ".join(f"Sentence {w} tells of the {w} harbour." for w in "abcdefghijklmnop")
    art = Article(doc_id="a.md", title="Harbour", text=body)
    ca = Chunker(fake.count_tokens, 30, 8).split(art)
    assert len(ca.chunks) > 2  # overlapping chunks: some sentences sit in two of them
    [(chunk_vecs, sentence_vecs)] = embed_articles(fake, [ca])
    expected = fake.encode([art.text[s.start : s.end] for s in ca.sentences])
    assert np.allclose(sentence_vecs, expected)  # sentence p too: encoded on its own
    assert np.allclose(chunk_vecs, fake.encode([f"Harbour\n{c.text}" for c in ca.chunks]))


@slow
def test_chunk_vectors_are_exactly_encode_and_a_question_finds_its_sentence(
    real_embedder,  # noqa: ANN001
) -> None:
    sentences = [
        "The Port Ellery harbour reopened on Monday after a storm closed it for a week.",
        "Fishing boats returned with the first catch of the season.",
        "The mayor said repairs to the sea wall would cost four million dollars.",
    ]
    texts = ["Harbour news\n" + HARBOUR, "A second text about chess openings and endgames."]
    spans = [spans_of(texts[0], sentences), [(2, 8)]]
    vectors, pooled = real_embedder.encode_with_spans(texts, spans)
    # `encode`'s vectors (to bf16's rounding where the CPU computes in bf16: Settings.embed_bf16)
    assert (vectors * real_embedder.encode(texts)).sum(axis=1).min() > 0.9999
    # What retrieval asks of sentence vectors: the sentence that answers is the closest.
    questions = real_embedder.encode(
        ["How much will the sea wall repairs cost?", "What did the fishing boats bring back?"]
    )
    assert list((questions @ pooled[0].T).argmax(axis=1)) == [2, 1]
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1.0, atol=1e-5)


@slow
def test_a_sentence_cut_off_by_the_model_length_is_left_for_encoding_alone(
    real_embedder,  # noqa: ANN001
) -> None:
    long = " ".join(["The council met again to discuss the budget."] * 80)  # > 256 tokens
    tail = "The final sentence names the winner."
    text = f"{long} {tail}"
    _, pooled = real_embedder.encode_with_spans([text], [[(0, 44), spans_of(text, [tail])[0]]])
    assert not np.isnan(pooled[0][0]).any()
    assert np.isnan(pooled[0][1]).all()


def write(corpus: Path, name: str, title: str, body: str) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / name).write_text(f"---\ntitle: {title}\npublished: 2026-11-02\n---\n\n{body}\n")


@slow
def test_ingest_pools_sentences_and_refuses_stores_made_the_other_way(
    tmp_path: Path,
    real_embedder,  # noqa: ANN001
) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", store_dir=tmp_path / "store")
    write(settings.corpus_dir, "harbour.md", "Port Ellery harbour reopens", HARBOUR)
    assert Ingestor(settings, embedder=real_embedder).run().added == 1
    store = open_store(settings)
    config = store.config()
    assert config is not None and config.sentence_vectors == POOLED
    answer = Pipeline(settings, store=store, embedder=real_embedder).answer(
        "How much will the sea wall repairs cost?"
    )
    assert "four million dollars" in answer.text
    assert answer.citations and answer.citations[0].doc_id == "harbour.md"

    # A store whose sentences were encoded one at a time (every store before this change).
    old = Settings(corpus_dir=tmp_path / "corpus", store_dir=tmp_path / "old")
    fake = FakeEmbedder()
    fake.name = real_embedder.name
    fake.dim = real_embedder.dim
    Ingestor(old, embedder=fake).run()
    old_config = open_store(old).config()
    assert old_config is not None and old_config.sentence_vectors == SEPARATE
    with pytest.raises(StoreMismatchError, match="ingest --rebuild"):
        Pipeline(old, embedder=real_embedder)
    write(old.corpus_dir, "bridge.md", "Bridge closes", "The old bridge closed on Tuesday.")
    with pytest.raises(StoreMismatchError, match="ingest --rebuild"):
        Ingestor(old, embedder=real_embedder).run()
