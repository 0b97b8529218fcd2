"""The default answerer: extractive, read by our trained span reader, every word a quote.

Three stages with typed hand-offs: the retrieval's passages (`Retrieval`) → the reader's
`Reading` (scored spans per passage window, `rag.reading`) → the composed `Answer`:

- the short answer is the reader's best span;
- the first quoted sentence is the one that holds that span, then the sentences of other
  passages whose own best span says the same (support), then the sentences holding the
  reader's runner-up spans in that passage, then those of other passages the reader also
  finds answering (confident), up to `answer_sentences` distinct sentences;
- the refusal is one decision: the reader's confidence (best span against its window's
  no-answer score, plus the answerability head) below `reader_threshold`, fitted on the fit
  halves (SQuAD 2.0 dev first half of titles, RealTimeQA 2024-01..06). The LLM answerer asks
  the same question (`should_abstain`).

When dated articles disagree, the newest evidence answers (`rag.temporal.newest_first`).
"""

from __future__ import annotations

import datetime as dt
import re
import time

from rag import temporal
from rag.reading import PassageText, Reading, SpanReader, load_reader
from rag.reading.reader import ReadSpan, WindowReading
from rag.records import Answer, Citation
from rag.retrieval import Passage, Retrieval, published_date
from rag.settings import Settings

NO_ANSWER_TEXT = (
    "I could not find an answer to that in the corpus. The closest passages are listed below; "
    "they may help, but they do not seem to answer the question."
)
# Shown when the reader refuses but the top passage is on the question's topic: the user sees
# the nearest statement, clearly labelled, instead of a guess.
CLOSEST_TEXT = (
    "I could not find a clear answer to that in the corpus. The closest passage says: "
    "\u201c{sentence}\u201d [1]"
)
EMPTY_STORE_TEXT = (
    "The corpus is empty (or nothing matches the filters), so there is nothing to answer from."
)
NOTHING_BEFORE_TEXT = (
    "Nothing in the corpus was published on or before {date} (or nothing matches the "
    "filters), so there is nothing to answer from."
)
# Below this cosine the top passage is off-topic (measured: unrelated questions score
# 0.1-0.3 against news passages, on-topic paraphrases 0.4 and up).
CLOSEST_MIN_COSINE = 0.35
# Two confident readings "both answer" when their confidences are this close (reader logits;
# a confident reading is typically 5-15): then a disagreement between dated articles is
# settled by the newest. The death-toll case of tests/test_as_of.py reads 14.2 (newer, "31")
# and 10.1 (older, "12"): both state a toll, so the newer wins.
CONFLICT_MARGIN = 5.0


def make_citation(
    number: int, passage: Passage, sentence_index: int | None, last_sentence: int | None = None
) -> Citation:
    """A citation whose quote is the chosen sentence (through `last_sentence` when a span runs
    over a sentence end), or the passage's best sentence."""
    meta = passage.hit.metadata
    start = passage.chunk_start
    if sentence_index is None:
        cos = passage.candidate.sentence_cos
        sentence_index = int(cos.argmax()) if len(cos) else None
    if sentence_index is not None and passage.sentences:
        first = passage.sentences[sentence_index]
        last = passage.sentences[max(sentence_index, last_sentence or sentence_index)]
        q_start, q_end = first.start, last.end
        quote = passage.hit.text[q_start - start : q_end - start]
    else:
        quote, q_start, q_end = passage.hit.text, start, start + len(passage.hit.text)
    return Citation(
        number=number,
        doc_id=passage.hit.doc_id,
        chunk_id=passage.hit.chunk_id,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        passage=passage.hit.text,
        passage_start=start,
        quote=quote,
        quote_start=q_start,
        quote_end=q_end,
        score=round(passage.score, 4),
    )


def passage_text(passage: Passage) -> PassageText:
    """The reader's view of a passage, its window centred on the sentence retrieval scored
    best (cosine plus lexical evidence)."""
    cand = passage.candidate
    score = cand.sentence_cos
    if cand.sentence_lex is not None and len(cand.sentence_lex) == len(score):
        score = score + cand.sentence_lex
    focus = int(score.argmax()) if len(score) else 0
    return PassageText(
        text=passage.hit.text,
        start=passage.chunk_start,
        sentences=[(r.start, r.end) for r in passage.sentences],
        focus=focus,
    )


def sentence_of(passage: Passage, offset: int) -> int | None:
    for i, rec in enumerate(passage.sentences):
        if rec.start <= offset < rec.end:
            return i
    return None


class ExtractiveAnswerer:
    def __init__(self, settings: Settings, reader: SpanReader | None = None) -> None:
        self.settings = settings
        self.reader = reader or load_reader(settings)

    def read(self, question: str, retrieval: Retrieval) -> Reading:
        """The read stage: windows of the top passages through the reader."""
        passages = retrieval.passages[: self.settings.reader_passages]
        return self.reader.read(question, [passage_text(p) for p in passages])

    def refuses(self, reading: Reading) -> bool:
        """The one refusal decision (the LLM answerer uses it too)."""
        return reading.confidence < self.settings.reader_threshold

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        if not retrieval.passages:
            return self.compose(question, retrieval, Reading())
        t0 = time.perf_counter()
        reading = self.read(question, retrieval)
        read_ms = round((time.perf_counter() - t0) * 1000, 2)
        answer = self.compose(question, retrieval, reading)
        answer.timings = {**answer.timings, "read_ms": read_ms}
        return answer

    def compose(self, question: str, retrieval: Retrieval, reading: Reading) -> Answer:
        """The compose stage: the answer text, its citations and the short answer."""
        passages = retrieval.passages
        if not passages:
            return Answer(
                question=question,
                text=empty_text(retrieval.as_of),
                abstained=True,
                retrieval_query=retrieval.query,
            )
        threshold = self.settings.reader_threshold
        if self.refuses(reading):
            return abstention(question, retrieval)
        confident = [w for w in reading.ranked() if w.confidence >= threshold and w.spans]
        best = confident[0].spans[0]
        as_of: dt.date | None = None
        newest = newest_reading(passages, confident, question)
        if newest is not None:
            best, as_of = newest
        # then passages the reader also finds answering (confident), those that say the same
        # first; under a conflict over time only the newest evidence is quoted
        support = supporting(best, confident, passages)
        # the reader's runner-up spans in the best window: the sentence of the same passage
        # holding its next guess ("recovered in Brussels" / "found in an antiques shop")
        window = next(w for w in confident if best in w.spans) if newest is None else None
        runners = list(window.spans[1:]) if window is not None else []
        others = [] if as_of is not None else [w.spans[0] for w in confident]
        picks = [best] + support + runners
        picks += [s for s in others if s not in picks]
        citations: list[Citation] = []
        parts: list[str] = []
        for span in picks:
            passage = passages[span.passage]
            first = sentence_of(passage, span.start)
            last = sentence_of(passage, max(span.start, span.end - 1))
            c = make_citation(len(citations) + 1, passage, first, last)
            said = " ".join(c.quote.split())
            if any(" ".join(o.quote.split()) == said for o in citations):
                continue
            citations.append(c)
            parts.append(f"{said} [{c.number}]")
            if len(citations) == self.settings.answer_sentences:
                break
        text = " ".join(parts)
        if as_of is not None:
            text = f"As of {temporal.format_date(as_of)}: {text}"
        first_citation = citations[0]
        return Answer(
            question=question,
            text=text,
            citations=citations,
            retrieval_query=retrieval.query,
            as_of=as_of.isoformat() if as_of is not None else "",
            short=best.text,
            short_citation=first_citation.number,
            short_start=best.start,
            short_end=best.end,
        )


def normalize_for_match(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def supporting(
    best: ReadSpan, confident: list[WindowReading], passages: list[Passage]
) -> list[ReadSpan]:
    """Best spans of other confident passages that say the same as `best` (same normalized
    text, or one inside the other): a second source for the same fact."""
    want = normalize_for_match(best.text)
    out = []
    for w in confident:
        span = w.spans[0]
        if span is best or span.passage == best.passage:
            continue
        got = normalize_for_match(span.text)
        if got and want and (got in want or want in got):
            out.append(span)
    return out


def newest_reading(
    passages: list[Passage], confident: list[WindowReading], question: str
) -> tuple[ReadSpan, dt.date] | None:
    """When confident readings of dated articles disagree, the newest one's span and date."""
    picks = [(w.spans[0].passage, i, w.confidence) for i, w in enumerate(confident)]

    def sentence_text(pick: tuple[int, int, float]) -> str:
        span = confident[pick[1]].spans[0]
        passage = passages[span.passage]
        si = sentence_of(passage, span.start)
        return passage.sentence_text(si) if si is not None else span.text

    newest = temporal.newest_first(
        picks,
        text_of=sentence_text,
        date_of=lambda p: published_date(passages[p[0]].hit),
        doc_of=lambda p: passages[p[0]].hit.doc_id,
        question=question,
        limit=1,
        margin=CONFLICT_MARGIN,
    )
    if newest is None:
        return None
    winner = newest[0][0]
    return confident[winner[1]].spans[0], newest[1]


def empty_text(as_of: dt.date | None) -> str:
    if as_of is not None and as_of < dt.date.today():
        return NOTHING_BEFORE_TEXT.format(date=temporal.format_date(as_of))
    return EMPTY_STORE_TEXT


def abstention(question: str, retrieval: Retrieval, limit: int = 3) -> Answer:
    """The closest passages, labelled as such, one per article; the nearest sentence is quoted
    when the top passage is at least on the question's topic."""
    top = retrieval.passages[0] if retrieval.passages else None
    best: int | None = None
    if top is not None and len(top.candidate.sentence_cos):
        best = int(top.candidate.sentence_cos.argmax())
    on_topic = (
        top is not None
        and best is not None
        and float(top.candidate.sentence_cos[best]) >= CLOSEST_MIN_COSINE
    )
    citations = closest_citations(retrieval.passages, best, limit)
    text = NO_ANSWER_TEXT
    if on_topic and top is not None and best is not None:
        text = CLOSEST_TEXT.format(sentence=" ".join(top.sentence_text(best).split()))
    return Answer(
        question=question,
        text=text,
        citations=citations,
        abstained=True,
        retrieval_query=retrieval.query,
    )


def closest_citations(
    passages: list[Passage], first_sentence: int | None, limit: int
) -> list[Citation]:
    """Up to `limit` passages in ranked order, one per article, each quoting its best sentence
    (the first one `first_sentence`): the same article listed twice is no closer passage."""
    seen: set[str] = set()
    out: list[Citation] = []
    for i, passage in enumerate(passages):
        if passage.hit.doc_id in seen:
            continue
        seen.add(passage.hit.doc_id)
        out.append(make_citation(len(out) + 1, passage, first_sentence if i == 0 else None))
        if len(out) == limit:
            break
    return out
