"""The encoder's work for a batch of chunked articles: a vector per chunk and per sentence.

Kept apart from the ingest run (`ingest.runner`) because it is the one place that knows how
the two kinds of vectors are made, which a store records (`StoreConfig.sentence_vectors`).
"""

from __future__ import annotations

import numpy as np

from ingest.chunking import ChunkedArticle
from rag.embedding import Embedder

UNSEEN = 1 << 30  # a span end past any text: `encode_with_spans` leaves it for encoding alone


def embed_articles(
    embedder: Embedder, batch: list[ChunkedArticle]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each article's chunk vectors and sentence vectors (rows in `ca.sentences` order).

    An embedder with `encode_with_spans` makes both from one forward pass over the chunks
    (each sentence vector pooled from its chunk's tokens: half the encoder's work); sentences
    it could not pool (cut off by the model's length) are encoded on their own. Any other
    embedder encodes chunks and sentences separately."""
    with_spans = getattr(embedder, "encode_with_spans", None)
    if with_spans is None:
        every, chunk_rows, sentence_rows = embedding_texts(batch)
        vectors = embedder.encode(every)
        return [(vectors[c], vectors[s]) for c, s in zip(chunk_rows, sentence_rows, strict=True)]
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    where: list[list[tuple[int, int]]] = []  # per article: (text row, span row) per sentence
    for ca in batch:
        first = len(texts)
        row_of = {c.chunk_id: first + k for k, c in enumerate(ca.chunks)}
        offset: dict[int, int] = {}
        for c in ca.chunks:
            texts.append(chunk_embedding_text(ca.article.title, c.text))
            spans.append([])
            offset[row_of[c.chunk_id]] = len(texts[-1]) - len(c.text) - c.start
        placed = []
        for s in ca.sentences:
            row = row_of[s.chunk_id]
            a, b = s.start + offset[row], s.end + offset[row]
            if a < len(texts[row]) - len(ca.chunks[row - first].text) or b > len(texts[row]):
                a, b = 0, UNSEEN  # a sentence the chunk holds only part of: encoded alone
            spans[row].append((a, b))
            placed.append((row, len(spans[row]) - 1))
        where.append(placed)
    chunk_vectors, span_vectors = with_spans(texts, spans)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    alone: dict[str, list[tuple[int, int]]] = {}  # sentence text -> (article, sentence row)
    first = 0
    for a, (ca, placed) in enumerate(zip(batch, where, strict=True)):
        svecs = np.stack([span_vectors[r][k] for r, k in placed]) if placed else None
        if svecs is None:
            svecs = np.zeros((0, chunk_vectors.shape[1]), np.float32)
        for j in np.flatnonzero(np.isnan(svecs[:, 0])).tolist() if len(svecs) else []:
            s = ca.sentences[j]
            alone.setdefault(ca.article.text[s.start : s.end], []).append((a, j))
        out.append((chunk_vectors[first : first + len(ca.chunks)], svecs))
        first += len(ca.chunks)
    if alone:
        vectors = embedder.encode(list(alone))
        for vec, rows in zip(vectors, alone.values(), strict=True):
            for a, j in rows:
                out[a][1][j] = vec
    return out


def embedding_texts(
    batch: list[ChunkedArticle],
) -> tuple[list[str], list[list[int]], list[list[int]]]:
    """All texts a batch needs embedded when each sentence is encoded on its own, and for each
    article the rows of its chunk vectors and sentence vectors. A sentence repeated in two
    overlapping chunks is embedded once."""
    texts: list[str] = []
    chunk_rows: list[list[int]] = []
    sentence_rows: list[list[int]] = []
    for ca in batch:
        rows = []
        for c in ca.chunks:
            rows.append(len(texts))
            texts.append(chunk_embedding_text(ca.article.title, c.text))
        chunk_rows.append(rows)
        seen: dict[tuple[int, int], int] = {}
        s_rows = []
        for s in ca.sentences:
            key = (s.start, s.end)
            if key not in seen:
                seen[key] = len(texts)
                texts.append(ca.article.text[s.start : s.end])
            s_rows.append(seen[key])
        sentence_rows.append(s_rows)
    return texts, chunk_rows, sentence_rows


def chunk_embedding_text(title: str, text: str) -> str:
    """The title is part of what the embedder sees: a chunk deep in an article rarely names
    its subject, and questions usually do."""
    return f"{title}\n{text}" if title else text
