"""`newsrag eval`: retrieval and answer quality on SQuAD v1.1 dev or any {question, answers} set.

SQuAD's 2,067 passages are ingested as articles into a separate store (incrementally, so the
second run only asks questions), each question is asked through the real pipeline, and the
retrieved passages are scored against the gold passage; BM25-only and dense-only rankings from
the same run are scored as baselines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import (
    RankMetrics,
    citation_valid,
    contains_answer,
    read_jsonl,
    short_em,
    short_f1,
    short_prediction,
    unanswerable_sets,
)
from evaluation.splits import fit_titles
from rag.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SQUAD_DIRS = (
    Path("../shared/data/squad-dev"),
    REPO_ROOT.parent / "shared" / "data" / "squad-dev",
)
SQUAD_DUMP = "squad-passages.jsonl"


def find_squad(data: Path | None) -> Path:
    for cand in [data] if data else DEFAULT_SQUAD_DIRS:
        if cand and (cand / "passages.jsonl").exists() and (cand / "questions.jsonl").exists():
            return cand
    raise ValueError(
        "SQuAD data not found: pass --data DIR holding passages.jsonl and questions.jsonl"
    )


def squad_settings(settings: Settings, store_dir: Path | None) -> Settings:
    store = store_dir or Path(".newsrag-eval") / "squad"
    return settings.model_copy(
        update={"store_dir": store, "corpus_dir": store / "corpus", "collection": "squad"}
    )


def prepare_squad_store(settings: Settings, data: Path, *, embedder: Any = None) -> Settings:
    """Write the passages as one JSONL dump (doc_id = dump#passage id) and ingest it (with
    `embedder` if given: tests pass a fake one)."""
    from ingest import ingest_corpus

    settings.corpus_dir.mkdir(parents=True, exist_ok=True)
    dump = settings.corpus_dir / SQUAD_DUMP
    records = [
        {"id": p["id"], "title": p["title"], "text": p["text"]}
        for p in read_jsonl(data / "passages.jsonl")
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not dump.exists() or dump.read_text(encoding="utf-8") != text:
        dump.write_text(text, encoding="utf-8")
    summary = ingest_corpus(settings, embedder=embedder)
    log.info("SQuAD store: %s", summary.line())
    return settings


def gold_doc_id(passage_id: str) -> str:
    return f"{SQUAD_DUMP}#{passage_id}"


class Scores:
    """What a set of questions scores (the whole set, or the check half)."""

    def __init__(self) -> None:
        self.fused, self.dense, self.bm25 = RankMetrics(), RankMetrics(), RankMetrics()
        self.contained: list[bool] = []
        self.ems: list[float] = []
        self.f1s: list[float] = []
        self.valid: list[bool] = []
        self.abstained: list[bool] = []
        self.latencies: list[float] = []

    def add(self, q: dict[str, Any], retrieval: Any, answer: Any, ms: float, doc_of: dict) -> None:
        self.latencies.append(ms)
        gold = q.get("gold_doc_id")
        if gold:
            self.fused.add([p.hit.doc_id for p in retrieval.passages], gold)
            self.dense.add([_chunk_doc(c, doc_of) for c in retrieval.dense_ids], gold)
            self.bm25.add([_chunk_doc(c, doc_of) for c in retrieval.bm25_ids], gold)
        if q.get("answers"):
            said = short_prediction(answer)
            self.contained.append(
                not answer.abstained and contains_answer(answer.text, q["answers"])
            )
            self.ems.append(short_em(said, q["answers"]))
            self.f1s.append(short_f1(said, q["answers"]))
        self.valid.extend(citation_valid(answer))
        self.abstained.append(answer.abstained)

    def summary(self) -> dict[str, Any]:
        def mean(xs: list[Any]) -> float | None:
            return round(float(np.mean(xs)), 4) if xs else None

        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        metrics: dict[str, Any] = {
            # retrieval metrics only when questions name their gold passage (a zero would lie)
            **(self.fused.summary() if self.fused.reciprocal else {}),
            "containment": mean(self.contained),
            # the short answer (Answer.short; empty when abstained or not confident = 0)
            "short_em": mean(self.ems),
            "short_f1": mean(self.f1s),
            "citation_validity": mean(self.valid) if self.valid else 1.0,
            "abstention_rate": mean(self.abstained) or 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "questions": len(self.latencies),
        }
        if self.fused.reciprocal:
            metrics["baselines"] = {"bm25": self.bm25.summary(), "dense": self.dense.summary()}
        return metrics


def evaluate(
    pipeline: Any,
    questions: list[dict[str, Any]],
    *,
    unanswerable: dict[str, list[dict[str, Any]]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Ask every question through `pipeline` and score it. Questions may carry `answers`
    (list of strings), `gold_doc_id` (for retrieval metrics) and `check` (true for a question
    of the check half: its metrics are also reported apart, under "check_half").
    `unanswerable` maps a name to questions the corpus cannot answer (with an optional
    `kind`); each gives the metrics `<name>_abstention` and `<name>_abstention_by_kind`."""
    from tqdm import tqdm

    whole, check = Scores(), Scores()
    doc_of: dict[str, str] = {}  # chunk id -> doc id, from the hits we see
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress):
        t0 = time.perf_counter()
        retrieval = pipeline.retrieve(q["question"], top_k=10)
        answer = pipeline.answerer.answer(q["question"], retrieval)
        ms = (time.perf_counter() - t0) * 1000
        for p in retrieval.passages:
            doc_of[p.hit.chunk_id] = p.hit.doc_id
        whole.add(q, retrieval, answer, ms, doc_of)
        if q.get("check"):
            check.add(q, retrieval, answer, ms, doc_of)
    metrics = whole.summary()
    if check.latencies:
        metrics["check_half"] = check.summary()
    for name, items in (unanswerable or {}).items():
        abst = [
            pipeline.answerer.answer(u["question"], pipeline.retrieve(u["question"])).abstained
            for u in items
        ]
        if not abst:
            continue
        kinds = sorted({str(u.get("kind", "all")) for u in items})
        metrics[f"{name}_abstention"] = round(float(np.mean(abst)), 4)
        metrics[f"{name}_abstention_by_kind"] = {
            k: round(
                float(
                    np.mean(
                        [
                            a
                            for a, u in zip(abst, items, strict=True)
                            if str(u.get("kind", "all")) == k
                        ]
                    )
                ),
                4,
            )
            for k in kinds
        }
        metrics[f"{name}_questions"] = len(abst)
    return metrics


def _chunk_doc(chunk_id: str, known: dict[str, str]) -> str:
    """doc_id of a chunk id (`doc_id#version:ordinal`), without a store round trip."""
    if chunk_id in known:
        return known[chunk_id]
    return chunk_id.rsplit("#", 1)[0]


def load_squad_questions(data: Path, limit: int | None) -> list[dict[str, Any]]:
    """SQuAD v1.1 dev questions; `check` marks those whose title is not in SQuAD 2.0 dev's fit
    half (the reader never trained on them). `limit` takes questions spread over the file."""
    qs = read_jsonl(data / "questions.jsonl")
    if limit and limit < len(qs):
        qs = [qs[(2 * i + 1) * len(qs) // (2 * limit)] for i in range(limit)]
    fit = fit_titles(data.parent / "squad2-dev")
    if not fit:
        return [{**q, "check": False} for q in _questions(qs)]
    return [{**q, "check": q["title"] not in fit} for q in _questions(qs)]


def _questions(qs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "question": q["question"],
            "answers": q["answers"],
            "gold_doc_id": gold_doc_id(q["gold_passage_id"]),
            "title": q.get("title", ""),
        }
        for q in qs
    ]


def run_eval_cli(args: argparse.Namespace, settings: Settings) -> int:
    from rag.pipeline import Pipeline

    logging.getLogger("rag").setLevel(logging.INFO)
    logging.getLogger("ingest").setLevel(logging.INFO)
    if args.llm:
        settings = settings.model_copy(update={"llm": args.llm})
    if args.dataset == "squad":
        data = find_squad(args.data)
        s = prepare_squad_store(squad_settings(settings, args.store_dir), data)
        questions = load_squad_questions(data, args.limit)
        unanswerable = unanswerable_sets()
    else:
        path = Path(args.dataset)
        if not path.exists():
            raise ValueError(f"no such dataset: {path} (use 'squad' or a JSONL file)")
        s = settings
        questions = read_jsonl(path)[: args.limit or None]
        bad = [i for i, q in enumerate(questions, 1) if "question" not in q]
        if bad:
            raise ValueError(f"{path}: line(s) {bad[:5]} have no 'question' field")
        unanswerable = None
    pipeline = Pipeline(s)
    if args.llm:
        from evaluation.llm_answerer import evaluate_llm

        extractive = Pipeline(s.model_copy(update={"llm": "none"}))
        metrics = evaluate_llm(pipeline, extractive, questions)
    else:
        metrics = evaluate(pipeline, questions, unanswerable=unanswerable, progress=not args.json)
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        sys.stdout.write(format_metrics(metrics) + "\n")
    return 0


def format_metrics(m: dict[str, Any]) -> str:
    if "table" in m:  # the LLM comparison (evaluation.llm_answerer) formats itself
        return str(m["table"])
    lines = [f"questions: {m.get('questions')}"]
    rows = [("newsrag (hybrid)", m)] + [
        (f"baseline: {k}", v) for k, v in m.get("baselines", {}).items()
    ]
    if "mrr_at_10" in m:
        lines.append(f"{'':20} {'MRR@10':>7} {'R@1':>6} {'R@5':>6} {'R@10':>6}")
        for name, r in rows:
            lines.append(
                f"{name:20} {r['mrr_at_10']:7.3f} {r['recall_at_1']:6.3f} "
                f"{r['recall_at_5']:6.3f} {r['recall_at_10']:6.3f}"
            )
    shown = (
        "containment",
        "short_em",
        "short_f1",
        "citation_validity",
        "abstention_rate",
        "unanswerable_abstention",
        "unanswerable_abstention_by_kind",
        "unanswerable_heldout_abstention",
        "unanswerable_heldout_abstention_by_kind",
        "p50_ms",
        "p95_ms",
    )
    lines += [f"{key}: {m[key]}" for key in shown if m.get(key) is not None]
    check = m.get("check_half")
    if check:
        lines.append(
            f"check half ({check['questions']} questions, titles never trained on): "
            + ", ".join(
                f"{k} {check[k]}"
                for k in ("mrr_at_10", "containment", "short_em", "short_f1", "abstention_rate")
                if check.get(k) is not None
            )
        )
    return "\n".join(lines)
