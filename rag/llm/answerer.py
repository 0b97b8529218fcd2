"""The LLM answerer: abstention decided by the reader first, the model's streamed draft,
then every citation checked by `rag.citecheck`; anything that goes wrong gives the extractive
answer with a one-line notice."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from llama_index.core.llms import LLM

from rag import citecheck
from rag.embedding import Embedder
from rag.extractive import ExtractiveAnswerer, make_citation
from rag.llm.backends import build_llm, describe_error, first_line
from rag.llm.generation import Generation
from rag.llm.prompts import ANSWER_MAX_SENTENCES, CONTEXT_PASSAGES, build_messages
from rag.reading import Reading
from rag.records import Answer, Citation
from rag.retrieval import Passage, Retrieval
from rag.settings import Settings

log = logging.getLogger(__name__)


def passage_evidence(passage: Passage) -> citecheck.Evidence:
    texts = [passage.sentence_text(i) for i in range(len(passage.sentences))]
    if not texts:  # a chunk without sentence records: the whole chunk is one sentence
        texts = [passage.hit.text]
    vectors = getattr(passage, "sentence_vectors", None)
    if vectors is not None and len(vectors) != len(texts):
        vectors = None
    return citecheck.Evidence(str(passage.hit.metadata.get("title", "")), texts, vectors)


class LLMAnswerer:
    """Answers with an LLM, checks every citation, falls back to the extractive answer."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None,
        *,
        llm: LLM | None = None,
        llm_factory: Callable[[], LLM] | None = None,
        extractive: ExtractiveAnswerer | None = None,
    ) -> None:
        """`embedder` is the pipeline's (sentence vectors for the citation check); None checks
        citations by word overlap alone. It is never loaded here: a second copy of the model
        would double the memory and could differ from the one the store was built with."""
        self.settings = settings
        self.embedder = embedder
        self._llm = llm
        self._llm_factory = llm_factory or (lambda: build_llm(settings))
        self._llm_lock = threading.Lock()
        self.extractive = extractive or ExtractiveAnswerer(settings)

    # The LLM is loaded on first use, so a broken backend shows up as a notice on the first
    # answer rather than as a crash at startup.
    @property
    def llm(self) -> LLM:
        with self._llm_lock:
            if self._llm is None:
                self._llm = self._llm_factory()
            return self._llm

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, retrieval):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[str | Answer]:
        """Raw text deltas as the model writes them, then the checked `Answer`."""
        t0 = time.perf_counter()
        # The refusal is the reader's, the same decision as the extractive answer's: the LLM
        # is only asked when the reader finds the answer in the passages.
        reading = self.extractive.read(question, retrieval) if retrieval.passages else Reading()
        if not retrieval.passages or self.extractive.refuses(reading):
            answer = self.extractive.compose(question, retrieval, reading)
            yield answer.text
            yield answer
            return
        passages = retrieval.passages[:CONTEXT_PASSAGES]
        try:
            llm = self.llm
        except Exception as exc:  # noqa: BLE001 - becomes the notice
            yield from self._fallback(question, retrieval, describe_error(exc, self.settings))
            return
        messages = build_messages(question, passages)

        def start() -> Iterator[str]:
            return (r.delta or "" for r in llm.stream_chat(messages))

        generation = Generation(start, self.settings.llm_timeout)
        parts: list[str] = []
        try:
            for delta in generation.deltas():
                if delta:
                    parts.append(delta)
                    yield delta
        except GeneratorExit:
            generation.stop()
            raise
        except Exception as exc:  # noqa: BLE001 - endpoint down, timeout, bad response
            log.info("LLM generation failed: %s", first_line(exc))
            yield from self._fallback(question, retrieval, describe_error(exc, self.settings))
            return
        llm_ms = (time.perf_counter() - t0) * 1000
        draft = "".join(parts).strip()
        t = time.perf_counter()
        try:
            answer = self.check(question, retrieval, passages, draft)
        except Exception as exc:  # noqa: BLE001 - an unchecked answer is never shown
            log.warning("checking the LLM answer failed", exc_info=True)
            answer = self._fallback_answer(
                question, retrieval, f"its answer could not be checked: {first_line(exc)}"
            )
        answer.timings = {
            **retrieval.timings,
            "llm_ms": round(llm_ms, 2),
            "check_ms": round((time.perf_counter() - t) * 1000, 2),
        }
        yield answer

    def check(
        self, question: str, retrieval: Retrieval, passages: Sequence[Passage], draft: str
    ) -> Answer:
        """The checked answer for the model's `draft`, or the extractive one with a notice."""
        if not draft:
            return self._fallback_answer(
                question, retrieval, "the LLM returned an empty answer", prefix=False
            )
        result = check_draft(
            draft,
            passages,
            retrieval.idf,
            self.embedder,
            self.settings.llm_unsupported,
            question=question,
        )
        if not result.supported:
            return self._fallback_answer(
                question,
                retrieval,
                "no sentence of the LLM's answer is supported by the passages",
                prefix=False,
            )
        citations = checked_citations(result, passages)
        notice = ""
        dropped = len(result.unsupported)
        if dropped and self.settings.llm_unsupported == "drop":
            notice = (
                f"{dropped} sentence{'s' if dropped > 1 else ''} of the LLM's answer "
                f"that no passage supports {'were' if dropped > 1 else 'was'} removed"
            )
        elif dropped:
            notice = "sentences marked [unsupported] are not backed by any passage"
        return Answer(
            question=question,
            text=result.text,
            citations=citations,
            retrieval_query=retrieval.query,
            notice=notice,
        )

    def _fallback_answer(
        self, question: str, retrieval: Retrieval, reason: str, *, prefix: bool = True
    ) -> Answer:
        answer = self.extractive.answer(question, retrieval)
        head = f"LLM unavailable ({reason})" if prefix else reason[:1].upper() + reason[1:]
        answer.notice = f"{head}: showing the extractive answer"
        answer.timings = dict(retrieval.timings)
        return answer

    def _fallback(self, question: str, retrieval: Retrieval, reason: str) -> Iterator[str | Answer]:
        yield self._fallback_answer(question, retrieval, reason)


def check_draft(
    draft: str,
    passages: Sequence[Passage],
    idf: dict[str, float] | None,
    embedder: Embedder | None,
    unsupported: str = "drop",
    *,
    question: str | None = None,
) -> citecheck.CheckedAnswer:
    """Run `rag.citecheck` on a draft: one embedding batch for the answer sentences (plus the
    passages' sentences when the store did not hand their vectors over)."""
    evidence = [passage_evidence(p) for p in passages]
    vectors = None
    if embedder is not None:
        sentences = [s.text for s in citecheck.prepare_draft(draft, evidence)]
        missing = [i for i, ev in enumerate(evidence) if ev.vectors is None]
        batch = sentences + [t for i in missing for t in evidence[i].sentences]
        if batch:
            encoded = np.asarray(embedder.encode(batch), dtype=np.float32)
            vectors = encoded[: len(sentences)]
            pos = len(sentences)
            for i in missing:
                n = len(evidence[i].sentences)
                evidence[i].vectors = encoded[pos : pos + n]
                pos += n
    return citecheck.check_answer(
        draft,
        evidence,
        idf=idf,
        vectors=vectors,
        unsupported="mark" if unsupported == "mark" else "drop",
        max_sentences=ANSWER_MAX_SENTENCES,
        question=question,
    )


def checked_citations(
    result: citecheck.CheckedAnswer, passages: Sequence[Passage]
) -> list[Citation]:
    out: list[Citation] = []
    for number, (pi, si, support) in enumerate(result.citations, start=1):
        passage = passages[pi]
        c = make_citation(number, passage, si if passage.sentences else None)
        c.checked = True
        c.support = round(float(min(max(support, 0.0), 1.0)), 4)
        out.append(c)
    return out


def build_llm_answerer(
    settings: Settings,
    embedder: Embedder | None,
    llm_factory: Callable[[], LLM] | None = None,
    extractive: ExtractiveAnswerer | None = None,
) -> LLMAnswerer:
    """The answerer `rag.pipeline.default_answerer` uses when `settings.llm != "none"`, sharing
    the pipeline's `embedder`, its reader (through `extractive`) and, through `llm_factory`,
    the process's loaded model."""
    return LLMAnswerer(settings, embedder, llm_factory=llm_factory, extractive=extractive)
