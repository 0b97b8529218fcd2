"""The evidence cache (rag/store/reads.py): a question asked again is served from memory, yet
an edited or deleted article is never answered from a stale copy, and the cache stays within
its bound. Real embedded Chroma on disk; the fake embedder (the dense path is not under test).
"""

from __future__ import annotations

import os

import pytest

from ingest import Ingestor
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.store import Store, make_client

BRIDGE = "Harbour bridge\n\nThe harbour bridge will cost {cost} million pounds, the council said."
OTHER = {
    "chess.txt": "Chess final\n\nLena Varga won the national chess championship in Pecs.",
    "rain.txt": "Heavy rain\n\nHeavy rain flooded the valley roads on Monday night.",
}


def _write(settings: Settings, files: dict[str, str]) -> None:
    for name in os.listdir(settings.corpus_dir):
        (settings.corpus_dir / name).unlink()
    for name, body in files.items():
        (settings.corpus_dir / name).write_text(body)


class CountingStore(Store):
    """Counts the Chroma reads of chunks and sentences behind the store's fetch methods."""

    reads = 0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, make_client(settings))
        for coll in (self.chunks, self.sentences):
            real = coll.get

            def counted(*args, _real=real, **kwargs):  # noqa: ANN002, ANN003, ANN202
                CountingStore.reads += 1
                return _real(*args, **kwargs)

            coll.get = counted  # type: ignore[method-assign]


def _passages(pipeline: Pipeline, question: str) -> list[str]:
    return [p.hit.text for p in pipeline.retrieve(question).passages]


def test_repeated_question_is_served_from_memory_and_edits_are_never_stale(
    settings: Settings,
    fake_embedder,  # noqa: ANN001
) -> None:
    _write(settings, {"bridge.txt": BRIDGE.format(cost=84), **OTHER})
    Ingestor(settings, embedder=fake_embedder).run()
    store = CountingStore(settings)
    pipeline = Pipeline(settings, store=store, embedder=fake_embedder)

    assert any("84 million" in t for t in _passages(pipeline, "harbour bridge cost"))
    CountingStore.reads = 0
    assert any("84 million" in t for t in _passages(pipeline, "harbour bridge cost"))
    assert CountingStore.reads == 0  # text, vectors and sentences all from the cache

    _write(settings, {"bridge.txt": BRIDGE.format(cost=92), **OTHER})
    Ingestor(settings, store=store, embedder=fake_embedder).run()
    texts = _passages(pipeline, "harbour bridge cost")
    assert any("92 million" in t for t in texts)
    assert not any("84 million" in t for t in texts)

    _write(settings, OTHER)
    Ingestor(settings, store=store, embedder=fake_embedder).run()
    assert not any("harbour" in t for t in _passages(pipeline, "harbour bridge cost"))


@pytest.mark.parametrize("bound", [0, 2])
def test_the_cache_stays_within_its_bound(
    settings: Settings,
    fake_embedder,
    bound: int,  # noqa: ANN001
) -> None:
    settings = settings.model_copy(update={"evidence_cache_chunks": bound})
    _write(settings, {"bridge.txt": BRIDGE.format(cost=84), **OTHER})
    Ingestor(settings, embedder=fake_embedder).run()
    store = Store(settings, make_client(settings))
    pipeline = Pipeline(settings, store=store, embedder=fake_embedder)
    for q in ["harbour bridge", "chess championship", "valley rain", "council"]:
        assert _passages(pipeline, q)
    cache = store.evidence
    assert len(cache._chunks) <= bound and len(cache._sentences) <= bound
