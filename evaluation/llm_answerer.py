"""The LLM side of `newsrag eval`: generated answers side by side with extractive ones.

Both answerers see the same retrieval for each question (retrieved once), so the comparison is
of the answers alone. Per system:

- `containment`: share of questions whose answer text contains a gold answer (the measure of
  `evaluation.squad`);
- `citation_validity`: share of citations whose quote is a verbatim part of its passage and that
  were checked, over answers whose every `[n]` resolves to a citation;
- `supported`: share of answer sentences that the passage they cite supports (the
  `rag.citecheck` support, same threshold as the checker);
- `fallback`: share of LLM answers replaced by the extractive one (endpoint trouble, empty or
  unsupported drafts);
- `p50_ms` / `p90_ms`: latency of retrieval plus answering.

For the LLM, the model's raw draft is measured too (before checking): how often its own `[n]`
markers point at a passage that supports the sentence, and its containment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evaluation.metrics import citations_valid, contains_answer, sentence_support
from rag import citecheck
from rag.records import Answer

log = logging.getLogger(__name__)


class _Tally:
    def __init__(self) -> None:
        self.contained: list[bool] = []
        self.valid = 0
        self.cited = 0
        self.supported: list[bool] = []
        self.abstained: list[bool] = []
        self.fallback: list[bool] = []
        self.latency: list[float] = []

    def add(self, answer: Answer, answers: Sequence[str], ms: float, idf, threshold) -> None:
        self.contained.append(not answer.abstained and contains_answer(answer.text, list(answers)))
        v, n = citations_valid(answer)
        self.valid += v
        self.cited += n
        if not answer.abstained:
            self.supported.extend(s >= threshold for s in sentence_support(answer, idf))
        self.abstained.append(answer.abstained)
        self.fallback.append(answer.notice.endswith("showing the extractive answer"))
        self.latency.append(ms)

    def summary(self) -> dict[str, float]:
        def mean(xs: list) -> float:
            return round(float(np.mean(xs)), 4) if xs else 0.0

        return {
            "containment": mean(self.contained),
            "citation_validity": round(self.valid / self.cited, 4) if self.cited else 0.0,
            "supported": mean(self.supported),
            "abstention_rate": mean(self.abstained),
            "fallback": mean(self.fallback),
            "p50_ms": round(float(np.percentile(self.latency, 50)), 1) if self.latency else 0.0,
            "p90_ms": round(float(np.percentile(self.latency, 90)), 1) if self.latency else 0.0,
        }


def evaluate_llm(
    pipeline_llm: Any,
    pipeline_extractive: Any,
    questions: Sequence[dict[str, Any]],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Metrics of the LLM pipeline's answers and the extractive pipeline's, same retrievals.

    `questions`: dicts with `question` and `answers` (gold strings). Returns
    `{"questions": n, "llm": {...}, "extractive": {...}, "llm_draft": {...}, "table": str}`.
    """
    from rag.llm import CONTEXT_PASSAGES

    threshold = citecheck.SUPPORT_THRESHOLD
    llm_t, ext_t = _Tally(), _Tally()
    draft_contained: list[bool] = []
    draft_markers_ok = draft_markers = 0
    draft_supported: list[bool] = []
    answerer = pipeline_llm.answerer
    for i, q in enumerate(questions):
        question, answers = q["question"], q.get("answers") or []
        t = time.perf_counter()
        retrieval = pipeline_extractive.retrieve(question)
        retrieve_ms = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        ext = pipeline_extractive.answerer.answer(question, retrieval)
        ext_t.add(
            ext, answers, retrieve_ms + (time.perf_counter() - t) * 1000, retrieval.idf, threshold
        )

        t = time.perf_counter()
        parts: list[str] = []
        final: Answer | None = None
        streamer = getattr(answerer, "stream", None)
        if streamer is None:
            final = answerer.answer(question, retrieval)
        else:
            for item in streamer(question, retrieval):
                if isinstance(item, Answer):
                    final = item
                else:
                    parts.append(item)
        assert final is not None
        llm_t.add(
            final, answers, retrieve_ms + (time.perf_counter() - t) * 1000, retrieval.idf, threshold
        )

        # The raw draft, before checking (only when the model was actually asked).
        draft = "".join(parts)
        asked = "llm_ms" in final.timings  # set only when the model wrote a draft
        if asked:
            draft_contained.append(contains_answer(draft, list(answers)))
            passages = retrieval.passages[:CONTEXT_PASSAGES]
            evidence = [_evidence(p) for p in passages]
            for ds in citecheck.split_draft(draft):
                sup = citecheck.support_matrix(ds.text, evidence, idf=retrieval.idf)
                best_cited = max(
                    (
                        float(sup[n - 1].max(initial=0.0))
                        for n in ds.cited
                        if 1 <= n <= len(evidence)
                    ),
                    default=0.0,
                )
                draft_supported.append(best_cited >= threshold)
                for n in ds.cited:
                    draft_markers += 1
                    ok = 1 <= n <= len(evidence) and float(sup[n - 1].max(initial=0.0)) >= threshold
                    draft_markers_ok += int(ok)
        else:
            draft_contained.append(False)
        if progress:
            progress(i + 1, len(questions))
        elif (i + 1) % 25 == 0:
            log.info("llm eval: %d/%d questions", i + 1, len(questions))

    llm, ext = llm_t.summary(), ext_t.summary()
    draft_m = {
        "containment": round(float(np.mean(draft_contained)), 4) if draft_contained else 0.0,
        "markers_valid": round(draft_markers_ok / draft_markers, 4) if draft_markers else 0.0,
        "sentences_supported_by_own_marker": (
            round(float(np.mean(draft_supported)), 4) if draft_supported else 0.0
        ),
        "sentences": len(draft_supported),
    }
    return {
        "questions": len(questions),
        "llm": llm,
        "extractive": ext,
        "llm_draft": draft_m,
        "table": format_table(llm, ext, draft_m, name=_backend_name(pipeline_llm)),
    }


def _evidence(passage: Any) -> citecheck.Evidence:
    from rag.llm import passage_evidence

    ev = passage_evidence(passage)
    ev.vectors = None  # word overlap only: the same measure for every system
    return ev


def _backend_name(pipeline: Any) -> str:
    s = getattr(pipeline, "settings", None)
    if s is None:
        return "LLM"
    if s.llm == "openai-like":
        return f"LLM (openai-like {s.llm_model or ''})".replace(" )", ")")
    if s.llm == "llama-cpp":
        from rag.llm import describe_endpoint

        return f"LLM (llama-cpp {describe_endpoint(s)})"
    return "LLM"


def format_table(llm: dict, ext: dict, draft: dict, *, name: str = "LLM") -> str:
    head = (
        "| answers | containment | citation validity | sentences supported | fallback "
        "| p50 ms | p90 ms |\n|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| extractive | {ext['containment']:.3f} | {ext['citation_validity']:.3f} | "
        f"{ext['supported']:.3f} | – | {ext['p50_ms']:.0f} | {ext['p90_ms']:.0f} |",
        f"| {name}, checked | {llm['containment']:.3f} | {llm['citation_validity']:.3f} | "
        f"{llm['supported']:.3f} | {llm['fallback']:.3f} | {llm['p50_ms']:.0f} | "
        f"{llm['p90_ms']:.0f} |",
        f"| {name}, raw draft | {draft['containment']:.3f} | {draft['markers_valid']:.3f} "
        f"| {draft['sentences_supported_by_own_marker']:.3f} | – | – | – |",
    ]
    return "\n".join([head, *rows])
