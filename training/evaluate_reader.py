"""The reader alone, gold passage given: SQuAD 2.0 dev by title half (fit / check).

    python -m training.evaluate_reader --weights training/runs/reader/reader.safetensors

Reports per half: answer F1 / EM on answerable questions (best span of the passage, SQuAD
normalization), and the refusal curve: the share of unanswerable questions refused when the
threshold refuses 5% / 10% of the answerable ones, for each candidate confidence (span-null
margin, answerability logit, their sum). The check half was never trained on.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation.metrics import short_em, short_f1
from evaluation.squad2 import split_by_title, spread
from rag.reading.reader import SpanReader, Window
from training.data import closest_context

log = logging.getLogger(__name__)


def evaluate(reader: SpanReader, data: Path, limit: int | None) -> dict:
    texts: dict[str, str] = {}
    by_title: dict[str, list[str]] = {}
    for line in (data / "squad-dev" / "passages.jsonl").read_text().splitlines():
        p = json.loads(line)
        texts[p["id"]] = p["text"]
        by_title.setdefault(p["title"], []).append(p["text"])
    qs = [json.loads(x) for x in (data / "squad2-dev" / "questions.jsonl").read_text().splitlines()]
    out = {}
    for half, questions in split_by_title(qs).items():
        questions = spread(questions, limit)
        rows = []
        for q in tqdm(questions, desc=half, unit="q"):
            ctx = (
                texts[q["gold_passage_id"]]
                if q["gold_passage_id"]
                else closest_context(q["question"], by_title[q["title"]]) or ""
            )
            r = reader.read_windows(q["question"], [Window(0, ctx, 0)])[0]
            best = r.spans[0] if r.spans else None
            rows.append(
                {
                    "impossible": q["is_impossible"],
                    "f1": short_f1(best.text, q["answers"]) if best else 0.0,
                    "em": short_em(best.text, q["answers"]) if best else 0.0,
                    "margin": (best.score - r.null) if best else -1e9,
                    "answerable": r.answerable,
                }
            )
        ans = [r for r in rows if not r["impossible"]]
        una = [r for r in rows if r["impossible"]]
        m: dict[str, float] = {"answerable": len(ans), "unanswerable": len(una)}
        m["f1"] = round(float(np.mean([r["f1"] for r in ans])), 4)
        m["em"] = round(float(np.mean([r["em"] for r in ans])), 4)
        for name, f in {
            "margin": lambda r: r["margin"],
            "answerable": lambda r: r["answerable"],
            "sum": lambda r: r["margin"] + r["answerable"],
        }.items():
            a = np.array([f(r) for r in ans])
            u = np.array([f(r) for r in una])
            for rate in (0.05, 0.10):
                t = float(np.quantile(a, rate))
                m[f"{name}_refused@{rate}"] = round(float(np.mean(u < t)), 4)
                m[f"{name}_threshold@{rate}"] = round(t, 3)
        out[half] = m
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--limit", type=int, default=600, help="questions per half")
    ap.add_argument("--no-quantize", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    reader = SpanReader(args.weights, window_tokens=320, quantize=not args.no_quantize)
    t = time.perf_counter()
    print(json.dumps(evaluate(reader, args.data, args.limit), indent=1))
    log.info("%.0f s", time.perf_counter() - t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
