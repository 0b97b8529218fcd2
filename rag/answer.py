"""The default answerer: extractive, so every word of an answer is a quote with a source.

It picks the sentences of the top passages that best answer the question (`rag.scoring`),
writes them with `[n]` markers, and ties each marker to the passage and the exact character
span it came from. When nothing scores well enough it abstains and shows the closest passages
instead of guessing.
"""

from __future__ import annotations

import datetime as dt

from rag import scoring, temporal
from rag.models import Answer, Citation
from rag.retrieval import Passage, Retrieval, published_date
from rag.scoring import spans
from rag.settings import Settings

NO_ANSWER_TEXT = (
    "I could not find an answer to that in the corpus. The closest passages are listed below; "
    "they may help, but they do not seem to answer the question."
)
# Shown when the best passage scores below the abstention threshold but still says something
# on the topic: the user sees the nearest statement, clearly labelled, instead of a guess.
CLOSEST_TEXT = (
    "I could not find a clear answer to that in the corpus. The closest passage says: "
    "\u201c{sentence}\u201d [1]"
)
EMPTY_STORE_TEXT = (
    "The corpus is empty (or nothing matches the filters), so there is nothing to answer from."
)


def make_citation(number: int, passage: Passage, sentence_index: int | None) -> Citation:
    """A citation whose quote is the chosen sentence, or the passage's best sentence."""
    meta = passage.hit.metadata
    start = passage.chunk_start
    if sentence_index is None:
        cos = passage.candidate.sentence_cos
        sentence_index = int(cos.argmax()) if len(cos) else None
    if sentence_index is not None and passage.sentences:
        rec = passage.sentences[sentence_index]
        quote, q_start, q_end = passage.sentence_text(sentence_index), rec.start, rec.end
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


class ExtractiveAnswerer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def should_abstain(self, retrieval: Retrieval) -> bool:
        if not retrieval.passages:
            return True
        ranked = [(p.candidate, p.score) for p in retrieval.passages]
        return scoring.should_abstain(
            ranked, retrieval.terms, idf=retrieval.idf, question=retrieval.query
        )

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        passages = retrieval.passages
        if not passages:
            return Answer(
                question=question,
                text=EMPTY_STORE_TEXT,
                abstained=True,
                retrieval_query=retrieval.query,
            )
        if self.should_abstain(retrieval):
            return abstention(question, retrieval)
        ranked = [(p.candidate, p.score) for p in passages]
        candidates = scoring.select_sentences(
            ranked,
            retrieval.terms,
            max_sentences=3 * self.settings.answer_sentences,
            idf=retrieval.idf,
            question=question,
        )
        picks = distinct_picks(passages, candidates, self.settings.answer_sentences)
        newest = newest_evidence(passages, candidates, question, self.settings.answer_sentences)
        if newest is not None:
            picks = newest[0]
        if not picks:
            return abstention(question, retrieval)
        # The short answer comes from the best answer sentences (under a conflict over time,
        # only from the newest evidence); the sentence holding it is quoted first.
        # A number or date question none of whose answer sentences holds one is about
        # something the corpus does not say (the subject is there, the fact is not).
        pool = sorted(candidates, key=lambda t: -t[2])
        if spans.lacks_typed_evidence(question, answer_sentences(passages, pool[:SHORT_SENTENCES])):
            return abstention(question, retrieval)
        pool = picks[:1] if newest is not None else pool
        short = find_short(question, passages, pool, retrieval.terms)
        if short is not None:
            pick, _ = short
            said = " ".join(passages[pick[0]].sentence_text(pick[1]).split())
            picks = [pick] + [
                p for p in picks if " ".join(passages[p[0]].sentence_text(p[1]).split()) != said
            ]
            picks = picks[: self.settings.answer_sentences]
        numbers: dict[tuple[int, int], int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        for pi, si, _ in picks:
            key = (pi, si)
            if key not in numbers:
                numbers[key] = len(citations) + 1
                citations.append(make_citation(numbers[key], passages[pi], si))
            sentence = " ".join(passages[pi].sentence_text(si).split())
            parts.append(f"{sentence} [{numbers[key]}]")
        text = " ".join(parts)
        if newest is not None:
            text = f"As of {temporal.format_date(newest[1])}: {text}"
        answer = Answer(
            question=question,
            text=text,
            citations=citations,
            retrieval_query=retrieval.query,
            as_of=newest[1].isoformat() if newest is not None else "",
        )
        if short is not None:
            span, first = short[1], citations[0]
            answer.short = span.text
            answer.short_citation = first.number
            answer.short_start = first.quote_start + span.start
            answer.short_end = first.quote_start + span.end
        return answer


# Answer sentences the short answer may come from (best first).
SHORT_SENTENCES = 4


def find_short(
    question: str,
    passages: list[Passage],
    pool: list[tuple[int, int, float]],
    terms: list[str],
) -> tuple[tuple[int, int, float], spans.Span] | None:
    """The confident short answer among the best picks, with the pick it was cut from."""
    pool = pool[:SHORT_SENTENCES]
    span = spans.best_span(question, answer_sentences(passages, pool), terms)
    return None if span is None else (pool[span.sentence], span)


def answer_sentences(
    passages: list[Passage], pool: list[tuple[int, int, float]]
) -> list[spans.AnswerSentence]:
    return [
        spans.AnswerSentence(passages[pi].sentence_text(si), score, passages[pi].hit.doc_id)
        for pi, si, score in pool
    ]


def newest_evidence(
    passages: list[Passage], picks: list[tuple[int, int, float]], question: str, limit: int
) -> tuple[list[tuple[int, int, float]], dt.date] | None:
    """When the answering sentences of dated articles disagree, the picks with the newest
    evidence first and its date (rag.temporal.conflicts); None otherwise."""
    return temporal.newest_first(
        picks,
        text_of=lambda p: passages[p[0]].sentence_text(p[1]),
        date_of=lambda p: published_date(passages[p[0]].hit),
        doc_of=lambda p: passages[p[0]].hit.doc_id,
        question=question,
        limit=limit,
    )


def distinct_picks(
    passages: list[Passage], picks: list[tuple[int, int, float]], limit: int
) -> list[tuple[int, int, float]]:
    """The best `limit` picks that quote different text, in reading order.

    Overlapping chunks share sentences, so the same sentence can be picked from two chunks;
    quoting it twice would say nothing new.
    """
    seen: set[str] = set()
    kept: list[tuple[int, int, float]] = []
    for pick in sorted(picks, key=lambda t: -t[2]):
        text = " ".join(passages[pick[0]].sentence_text(pick[1]).split())
        if text not in seen:
            seen.add(text)
            kept.append(pick)
        if len(kept) == limit:
            break
    return sorted(kept, key=lambda t: (t[0], t[1]))


def abstention(question: str, retrieval: Retrieval, limit: int = 3) -> Answer:
    """The closest passages, labelled as such; the nearest sentence is quoted when the top
    passage is at least on the question's topic (its best sentence clears a low bar)."""
    passages = retrieval.passages[:limit]
    ranked = [(p.candidate, p.score) for p in passages]
    picks = scoring.select_sentences(
        ranked, retrieval.terms, max_sentences=1, top_passages=1, question=question
    )
    best = picks[0] if picks else None
    on_topic = (
        best is not None
        and float(passages[0].candidate.sentence_cos[best[1]]) >= CLOSEST_MIN_COSINE
    )
    citations = closest_citations(retrieval.passages, best[1] if best else None, limit)
    text = NO_ANSWER_TEXT
    if on_topic and best is not None:
        text = CLOSEST_TEXT.format(sentence=" ".join(passages[0].sentence_text(best[1]).split()))
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
    """Up to `limit` passages in ranked order, each quoting its best sentence (the first one
    `first_sentence`), skipping any whose quote an earlier one already shows: overlapping
    chunks share sentences, and the same sentence listed twice is no closer passage."""
    seen: set[str] = set()
    out: list[Citation] = []
    for i, passage in enumerate(passages):
        citation = make_citation(len(out) + 1, passage, first_sentence if i == 0 else None)
        key = " ".join(citation.quote.split())
        if key in seen:
            continue
        seen.add(key)
        out.append(citation)
        if len(out) == limit:
            break
    return out


# Below this cosine the top passage is off-topic (measured: unrelated questions score
# 0.1-0.3 against news passages, on-topic paraphrases 0.4 and up).
CLOSEST_MIN_COSINE = 0.35
