"""Chunking keeps exact offsets, respects the size budget and overlaps whole sentences."""

from __future__ import annotations

from ingest.chunking import Chunker
from rag.records import Article, normalize_text
from rag.sentences import sentence_spans


def words(text: str) -> int:
    return len(text.split())


def make(text: str) -> Article:
    return Article(doc_id="a.txt", title="A", text=normalize_text(text))


class TestChunker:
    def test_chunks_are_exact_slices_within_budget(self) -> None:
        text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
        art = make(text)
        result = Chunker(words, chunk_size=40, chunk_overlap=10).split(art)
        assert len(result.chunks) > 3
        for c in result.chunks:
            assert art.text[c.start : c.end] == c.text
            assert words(c.text) <= 40
        assert result.chunks[0].start == 0
        assert result.chunks[-1].end == len(art.text)

    def test_overlap_repeats_trailing_sentences(self) -> None:
        text = " ".join(f"This is sentence {i} of the story." for i in range(30))
        result = Chunker(words, chunk_size=35, chunk_overlap=10).split(make(text))
        for a, b in zip(result.chunks, result.chunks[1:], strict=False):
            assert b.start < a.end, "consecutive chunks should overlap"
            assert b.start > a.start

    def test_ids_are_doc_version_ordinal(self) -> None:
        art = make("One sentence here. Another one there.")
        result = Chunker(words, 50, 5).split(art)
        assert [c.chunk_id for c in result.chunks] == [f"a.txt#{art.sha256[:12]}:0"]

    def test_sentence_records_cover_each_chunk(self) -> None:
        art = make("First point made. Second point made.\n\nA new paragraph starts. It ends.")
        result = Chunker(words, 6, 2).split(art)
        for c in result.chunks:
            recs = [s for s in result.sentences if s.chunk_id == c.chunk_id]
            assert recs and recs[0].start == c.start and recs[-1].end == c.end
            assert [r.index for r in recs] == list(range(len(recs)))

    def test_overlong_sentence_is_cut_at_words(self) -> None:
        text = "word " * 500 + "end."
        art = make(text)
        result = Chunker(words, 100, 10).split(art)
        assert all(words(c.text) <= 100 for c in result.chunks)
        assert "".join(c.text for c in result.chunks).replace(" ", "") == art.text.replace(" ", "")


class TestSentences:
    def test_abbreviations_do_not_split(self) -> None:
        text = "Mr. Smith met Dr. Jones in the U.S. capital. They talked."
        spans = sentence_spans(text)
        assert [text[s:e] for s, e in spans] == [
            "Mr. Smith met Dr. Jones in the U.S. capital.",
            "They talked.",
        ]

    def test_headline_lines_are_their_own_sentences(self) -> None:
        text = "Big news today\nBy A. Writer\n\nThe council met. It voted."
        got = [text[s:e] for s, e in sentence_spans(text)]
        assert got[0] == "Big news today" and "The council met." in got
