"""Query latency on the 2,067-passage SQuAD store, model load excluded.

Prints p50/p95/p99 of the full `Pipeline.answer` (question embedding, dense + BM25 retrieval,
scoring, extractive answer) and its stages, and as a baseline measured in the same run the
latency of the bare minimum a RAG query needs (embed the question + one Chroma query).
`pipeline_reader_excluded` is each question's time less its read stage (`read_ms`, the span
reader's forward pass, which the baseline has no counterpart for), with its own ratio.

Usage: .venv/bin/python bench/query.py [--questions N] [--store-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.squad import find_squad, prepare_squad_store, read_jsonl, squad_settings  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402


def pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "mean_ms": round(float(a.mean()), 1),
    }


def main() -> None:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--store-dir", type=Path)
    ap.add_argument("--questions", type=int, default=1000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = find_squad(args.data)
    settings = prepare_squad_store(squad_settings(Settings(), args.store_dir), data)
    pipeline = Pipeline(settings)  # loads the model: excluded from the timings
    questions = [q["question"] for q in read_jsonl(data / "questions.jsonl")]
    step = max(1, len(questions) // args.questions)
    sample = questions[::step][: args.questions]
    for q in sample[:20]:  # warm-up: BM25 load, Chroma caches, torch kernels
        pipeline.answer(q)

    totals: list[float] = []
    unread: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in tqdm(sample, desc="full pipeline", unit="q"):
        t0 = time.perf_counter()
        answer = pipeline.answer(q)
        totals.append((time.perf_counter() - t0) * 1000)
        unread.append(totals[-1] - answer.timings.get("read_ms", 0.0))
        for k, v in answer.timings.items():
            stages.setdefault(k, []).append(v)

    baseline: list[float] = []
    for q in tqdm(sample, desc="baseline (embed + Chroma)", unit="q"):
        t0 = time.perf_counter()
        vec = pipeline.embedder.encode([q])[0]
        pipeline.store.dense_search(vec, settings.top_k)
        baseline.append((time.perf_counter() - t0) * 1000)

    result = {
        "questions": len(sample),
        "chunks_in_store": pipeline.store.count(),
        "pipeline": pct(totals),
        "pipeline_reader_excluded": pct(unread),
        "baseline_embed_plus_chroma": pct(baseline),
        "ratio_p50_pipeline_over_baseline": round(
            float(np.percentile(totals, 50) / np.percentile(baseline, 50)), 2
        ),
        "ratio_p50_reader_excluded_over_baseline": round(
            float(np.percentile(unread, 50) / np.percentile(baseline, 50)), 2
        ),
        "stages_p50_ms": {k: round(float(np.percentile(v, 50)), 2) for k, v in stages.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
