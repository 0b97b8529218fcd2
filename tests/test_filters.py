"""One filter semantics (rag.store.filters): every case gives the same articles on the dense
side (a real embedded Chroma store) and the lexical side (the BM25 mask), and the expected ones.

The rule under test: sources / doc ids restrict to those; since / until bound the publication
date inclusively; any date filter excludes undated articles; several filters AND together.
`as_of` (answers as of a date) hides what was published after it but keeps undated articles.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from rag.records import Article, Chunk, Filters
from rag.settings import Settings
from rag.store import (
    ArticleWrite,
    Bm25Manager,
    SentenceRecord,
    Store,
    StoreConfig,
    chunk_id_for,
    make_client,
)

DIM = 8
ARTICLES = {  # doc_id: (source, published)
    "jan": ("BBC", dt.date(2024, 1, 10)),
    "june": ("BBC", dt.date(2024, 6, 15)),
    "june-end": ("Reuters", dt.date(2024, 6, 30)),
    "undated": ("Reuters", None),
    "december": ("AP", dt.date(2024, 12, 31)),
}
ALL = set(ARTICLES)

CASES = [
    ({}, ALL),
    ({"sources": ["BBC"]}, {"jan", "june"}),
    ({"sources": ["BBC", "AP"]}, {"jan", "june", "december"}),
    ({"sources": ["Reuters"]}, {"june-end", "undated"}),  # no date filter: undated passes
    ({"sources": ["Nobody"]}, set()),
    ({"since": "2024-06-15"}, {"june", "june-end", "december"}),
    ({"until": "2024-06-30"}, {"jan", "june", "june-end"}),  # undated excluded
    ({"since": "2024-06-01", "until": "2024-06-30"}, {"june", "june-end"}),
    ({"since": "2024-06-30", "until": "2024-06-30"}, {"june-end"}),  # bounds inclusive
    ({"since": "2025-01-01"}, set()),
    ({"doc_ids": ["jan", "undated"]}, {"jan", "undated"}),
    ({"doc_ids": ["undated"], "until": "2024-12-31"}, set()),
    ({"doc_ids": ["undated"], "since": "2000-01-01"}, set()),
    ({"doc_ids": ["jan", "june-end"], "sources": ["BBC"]}, {"jan"}),
    ({"sources": ["Reuters"], "until": "2024-12-31"}, {"june-end"}),
    ({"sources": ["BBC", "Reuters"], "since": "2024-02-01", "until": "2024-06-29"}, {"june"}),
    # as_of: nothing published after it; undated articles stay visible
    ({"as_of": "2024-06-15"}, {"jan", "june", "undated"}),
    ({"as_of": "2024-06-14"}, {"jan", "undated"}),
    ({"as_of": "2023-01-01"}, {"undated"}),
    ({"as_of": "2030-01-01"}, ALL),
    ({"as_of": "2024-06-30", "sources": ["Reuters"]}, {"june-end", "undated"}),
    # ... but an explicit window with as_of still excludes undated ones
    ({"as_of": "2024-06-30", "since": "2024-01-01"}, {"jan", "june", "june-end"}),
    ({"as_of": "2024-06-20", "until": "2024-12-31"}, {"jan", "june"}),
    ({"as_of": "2024-12-31", "until": "2024-06-15"}, {"jan", "june"}),
]


def _write(store: Store) -> None:
    rng = np.random.default_rng(7)
    writes = []
    for doc_id, (source, published) in ARTICLES.items():
        text = f"{doc_id} report one. {doc_id} report two."
        art = Article(doc_id=doc_id, title=doc_id, text=text, source=source, published=published)
        half = len(text) // 2
        chunks = [
            Chunk(
                chunk_id=chunk_id_for(doc_id, art.sha256, i),
                doc_id=doc_id,
                ordinal=i,
                text=text[s:e],
                start=s,
                end=e,
            )
            for i, (s, e) in enumerate([(0, half), (half, len(text))])
        ]
        sentences = [SentenceRecord(c.chunk_id, 0, c.start, c.end) for c in chunks]
        vecs = rng.normal(size=(2, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        writes.append(ArticleWrite(art, chunks, vecs, sentences, vecs.copy()))
    store.write_articles(writes)


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Bm25Manager]:
    root: Path = tmp_path_factory.mktemp("filters")
    settings = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="filt")
    store = Store(settings, make_client(settings))
    store.ensure_config(StoreConfig("fake", DIM, 200, 30))
    _write(store)
    return store, Bm25Manager(store, root / "bm25")


@pytest.mark.parametrize(("spec", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_dense_and_lexical_sides_admit_the_same_articles(
    sides: tuple[Store, Bm25Manager], spec: dict, expected: set[str]
) -> None:
    store, bm25 = sides
    filters = Filters.model_validate(spec)
    probe = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    dense = {hit.doc_id for hit in store.dense_search(probe, 100, filters)}

    index = bm25.current()
    allowed = index.allowed(filters)
    rows = range(len(index)) if allowed is None else np.nonzero(allowed)[0]
    lexical = {index.ids[int(i)].split("#")[0] for i in rows}

    assert len(index) == 2 * len(ARTICLES)
    assert dense == lexical == expected
