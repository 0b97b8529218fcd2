"""Sentence-aware chunking with exact character offsets.

Chunks are packed from whole sentences (the same `sentence_spans` the answerer quotes from) up
to `chunk_size` word pieces of the embedding model, with about `chunk_overlap` word pieces of
trailing sentences repeated at the start of the next chunk. Unlike llama-index's
`SentenceSplitter`, which re-joins split text, every chunk here is an exact slice of the
article, so a citation can point at the very characters it quotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.records import Article, Chunk
from rag.sentences import sentence_spans
from rag.store import SentenceRecord, chunk_id_for
from rag.text import tokenize

TokenCounter = Callable[[str], int]


@dataclass
class ChunkedArticle:
    article: Article
    chunks: list[Chunk]
    sentences: list[SentenceRecord]  # per chunk, in order; a sentence may repeat across chunks


class Chunker:
    def __init__(self, count_tokens: TokenCounter, chunk_size: int, chunk_overlap: int) -> None:
        if chunk_overlap >= chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        self.count_tokens = count_tokens
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    def split(self, article: Article) -> ChunkedArticle:
        text = article.text
        units = [u for s, e in sentence_spans(text) for u in self._fit(text, s, e)]
        sizes = [self.count_tokens(text[s:e]) for s, e in units]
        groups: list[list[int]] = []
        i = 0
        while i < len(units):
            group = [i]
            total = sizes[i]
            j = i + 1
            while j < len(units) and total + sizes[j] <= self.chunk_size:
                group.append(j)
                total += sizes[j]
                j += 1
            groups.append(group)
            if j >= len(units):
                break
            # Step back over trailing sentences worth at most `chunk_overlap` tokens.
            back = j
            carried = 0
            while back - 1 > i and carried + sizes[back - 1] <= self.chunk_overlap:
                back -= 1
                carried += sizes[back]
            i = back
        sha = article.sha256
        chunks: list[Chunk] = []
        sentences: list[SentenceRecord] = []
        for ordinal, group in enumerate(groups):
            start, end = units[group[0]][0], units[group[-1]][1]
            cid = chunk_id_for(article.doc_id, sha, ordinal)
            chunks.append(
                Chunk(
                    chunk_id=cid,
                    doc_id=article.doc_id,
                    ordinal=ordinal,
                    text=text[start:end],
                    start=start,
                    end=end,
                )
            )
            for k, u in enumerate(group):
                s, e = units[u]
                sentences.append(SentenceRecord(cid, k, s, e, " ".join(tokenize(text[s:e]))))
        return ChunkedArticle(article, chunks, sentences)

    def _fit(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Cut a sentence longer than a chunk at word boundaries (tables, run-on lists)."""
        if self.count_tokens(text[start:end]) <= self.chunk_size:
            return [(start, end)]
        pieces: list[tuple[int, int]] = []
        words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
        cur_start, cur_end, cur_tokens = -1, -1, 0
        for ws, we in words:
            n = self.count_tokens(text[ws:we])
            if cur_start >= 0 and cur_tokens + n > self.chunk_size:
                pieces.append((cur_start, cur_end))
                cur_start, cur_tokens = -1, 0
            if cur_start < 0:
                cur_start = ws
            cur_end = we
            cur_tokens += n
        if cur_start >= 0:
            pieces.append((cur_start, cur_end))
        return pieces
