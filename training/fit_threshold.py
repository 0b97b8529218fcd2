"""Fit the reader's refusal threshold on the fit halves, through the production pipeline.

    python -m training.fit_threshold --limit 800 [--news-store .newsrag-eval/rtqa-fit]

Asks SQuAD 2.0 dev's fit half of titles (answerable and unanswerable, `--limit` spread over
them) through the real retrieval and the real read stage (`ExtractiveAnswerer.read`), and
records each question's `Reading.confidence`. The threshold is the largest one that refuses at
most `--max-refused` of the answerable questions; the share of unanswerable ones it refuses is
printed beside it. With `--news-store` (a store built by `newsrag eval realtimeqa` over
2024-01..06, the news fit period), the news answerable questions count too: the threshold
must keep both within the bound. Nothing of the check halves is read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation.realtimeqa import load_realtimeqa, realtimeqa_settings, subset
from evaluation.squad import squad_settings
from evaluation.squad2 import find_squad2, load_squad2, split_by_title, spread
from rag.pipeline import Pipeline
from rag.records import Filters
from rag.settings import Settings

log = logging.getLogger(__name__)


def confidences(pipeline: Pipeline, questions: list[tuple[str, Filters | None]]) -> np.ndarray:
    answerer = pipeline.answerer
    read = getattr(answerer, "read", None) or answerer.extractive.read  # type: ignore[attr-defined]
    out = []
    for question, filters in tqdm(questions, unit="q"):
        retrieval = pipeline.retrieve(question, filters=filters, top_k=10)
        out.append(read(question, retrieval).confidence if retrieval.passages else -1e9)
    return np.asarray(out)


def threshold_for(answerable: np.ndarray, max_refused: float) -> float:
    return float(np.quantile(answerable, max_refused))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=None, help="SQuAD 2.0 dev folder")
    ap.add_argument("--limit", type=int, default=800)
    ap.add_argument("--max-refused", type=float, default=0.05)
    ap.add_argument("--news-store", type=Path, default=None)
    ap.add_argument("--news-repo", type=Path, default=Path("../realtimeqa"))
    ap.add_argument("--news-limit", type=int, default=60)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    fit = split_by_title(load_squad2(find_squad2(args.data)))["first_half"]
    fit = spread(fit, args.limit)
    pipe = Pipeline(squad_settings(settings, None))
    conf = confidences(pipe, [(q["question"], None) for q in fit])
    impossible = np.array([q["is_impossible"] for q in fit])
    ans, una = conf[~impossible], conf[impossible]
    t = threshold_for(ans, args.max_refused)
    out: dict = {"squad2_fit": {"answerable": len(ans), "unanswerable": len(una)}}
    news = None
    if args.news_store:
        data = subset(
            load_realtimeqa(args.news_repo, dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
            args.news_limit,
        )
        news_pipe = Pipeline(realtimeqa_settings(settings, args.news_store))
        news = confidences(news_pipe, [(q.question, Filters(until=q.date)) for q in data.questions])
        t = min(t, threshold_for(news, args.max_refused))
        out["news_fit"] = {"answerable": len(news)}
    out["threshold"] = round(t, 3)
    out["squad2_fit"]["unanswerable_refused"] = round(float(np.mean(una < t)), 4)
    out["squad2_fit"]["answerable_refused"] = round(float(np.mean(ans < t)), 4)
    if news is not None:
        out["news_fit"]["answerable_refused"] = round(float(np.mean(news < t)), 4)
    for q in (0.02, 0.05, 0.10, 0.15):
        tq = threshold_for(ans, q)
        out[f"squad2_fit_at_{q}"] = {
            "threshold": round(tq, 3),
            "unanswerable_refused": round(float(np.mean(una < tq)), 4),
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
