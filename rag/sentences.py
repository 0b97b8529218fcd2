"""Sentence spans with character offsets.

Ingest (sentence vectors), chunking and the extractive answerer must agree on sentence
boundaries, and citations quote exact spans, so every caller goes through `sentence_spans`.
It uses the Punkt model that llama-index-core ships (works offline), plus paragraph breaks.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Gen|Gov|Sen|Rep|Rev|Capt|Col|Lt|Sgt|No|vs|etc|"
    r"Inc|Ltd|Co|Corp|U\.S|U\.K|a\.m|p\.m|e\.g|i\.e|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|"
    r"Oct|Nov|Dec)\.|\b[A-Z]\.)$"
)
_PARAGRAPH = re.compile(r"\n\s*\n")


@lru_cache(maxsize=1)
def _punkt():
    from llama_index.core.utils import globals_helper

    return globals_helper.punkt_tokenizer


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for para in _PARAGRAPH.split(text):
        start = text.find(para, pos)
        pos = start + len(para)
        if not para.strip():
            continue
        for line_start, line_end in _line_blocks(para):
            block = para[line_start:line_end]
            for s, e in _punkt().span_tokenize(block):
                spans.append((start + line_start + s, start + line_start + e))
    return _merge_fragments(text, spans)


def _line_blocks(para: str) -> list[tuple[int, int]]:
    """Split a paragraph on single newlines that end a line without sentence punctuation.

    Headlines, bylines and list items are lines without a full stop; Punkt would glue them to
    the next sentence.
    """
    blocks: list[tuple[int, int]] = []
    start = 0
    for m in re.finditer(r"\n", para):
        before = para[start : m.start()].rstrip()
        if before and not before.endswith((".", ",", ";", ":", "-")):
            blocks.append((start, m.start()))
            start = m.end()
        elif not before:
            start = m.end()
    if para[start:].strip():
        blocks.append((start, len(para)))
    return [(s, e) for s, e in blocks if para[s:e].strip()]


def _merge_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo Punkt splits after abbreviations and glue tiny fragments to a neighbour."""
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged:
            ps, pe = merged[-1]
            prev = text[ps:pe]
            gap = text[pe:s]
            if "\n\n" not in gap and (_ABBREV.search(prev) or len(prev.strip()) < 4):
                merged[-1] = (ps, e)
                continue
        merged.append((s, e))
    return merged


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
