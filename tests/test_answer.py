"""The extractive answerer's abstention: the closest passages it lists instead of an answer."""

from __future__ import annotations

import numpy as np

from rag.extractive import abstention
from rag.retrieval import Passage, Retrieval
from rag.scoring import Candidate
from rag.store import ChunkHit, SentenceRecord

ARTICLE = "The dam opened in May. Crowds came. Engineers checked the gates daily. It rained."
OTHER = "Ferries stopped for the storm. Harbour staff waited."


def passage(doc_id: str, text: str, spans: list[tuple[int, int]], cos: list[float], start: int):
    """A chunk of `text` starting at `start`, with sentences at the article offsets `spans`."""
    chunk = text[start : spans[-1][1]]
    cid = f"{doc_id}#x:{start}"
    hit = ChunkHit(cid, doc_id, chunk, {"start": start, "title": doc_id, "doc_id": doc_id})
    sentences = [SentenceRecord(cid, i, s, e) for i, (s, e) in enumerate(spans)]
    cand = Candidate(
        chunk_id=cid,
        bm25=1.0,
        dense=0.3,
        sentence_cos=np.array(cos),
        sentence_texts=[text[s:e] for s, e in spans],
        title=doc_id,
    )
    return Passage(hit, 1.0, cand, sentences, np.zeros(4, dtype=np.float32))


def spans_of(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for piece in text.split(". "):
        end = start + len(piece) + (1 if not piece.endswith(".") else 0)
        out.append((start, min(end, len(text))))
        start = end + 1
    return out


def test_closest_passages_never_quote_the_same_sentence_twice() -> None:
    """Two overlapping chunks of one article share their best sentence: it is listed once,
    and the next passage that says something else takes the freed place."""
    spans = spans_of(ARTICLE)  # 4 sentences
    first = passage("dam.md", ARTICLE, spans[:3], [0.1, 0.2, 0.4], 0)  # best: "Engineers..."
    overlap = passage("dam.md", ARTICLE, spans[2:], [0.4, 0.1], spans[2][0])  # same best
    other = passage("ferry.md", OTHER, spans_of(OTHER), [0.3, 0.1], 0)
    retrieval = Retrieval("Why was the bridge closed?", [first, overlap, other], [], {})

    answer = abstention("Why was the bridge closed?", retrieval)

    quotes = [c.quote for c in answer.citations]
    assert answer.abstained
    assert len(quotes) == len(set(quotes)), quotes
    assert quotes[0] == "Engineers checked the gates daily."
    assert [c.doc_id for c in answer.citations][-1] == "ferry.md"
    assert [c.number for c in answer.citations] == list(range(1, len(quotes) + 1))
