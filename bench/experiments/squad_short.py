"""Short answers on SQuAD v1.1 dev: measure `rag.scoring.spans` and grid its weights.

The pipeline runs once over the questions and the answer sentences the short-answer step sees
are cached; the grid then replays `best_span` on the cache in seconds. Weights are chosen on
the questions of the first half of the titles (alphabetical) and reported on the second half.

    .venv/bin/python bench/experiments/squad_short.py --store /work/data/squad-store \
        --limit 3000 [--grid]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from evaluation.metrics import short_em, short_f1

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "squad-dev"


def collect(store: Path, limit: int, cache: Path) -> list[dict]:
    """Run the real pipeline; record what `find_short` saw for every answered question."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    import rag.answer
    from evaluation.squad import prepare_squad_store, squad_settings
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    settings = prepare_squad_store(squad_settings(Settings(), store), DATA)
    pipeline = Pipeline(settings)
    questions = [json.loads(line) for line in open(DATA / "questions.jsonl")]
    random.Random(0).shuffle(questions)
    seen: list[tuple] = []
    real = rag.answer.find_short

    def spy(question, passages, pool, terms):  # noqa: ANN001, ANN202
        pool = pool[: rag.answer.SHORT_SENTENCES]
        seen.append(
            (
                [
                    (passages[pi].sentence_text(si), score, passages[pi].hit.doc_id)
                    for pi, si, score in pool
                ],
                list(terms),
            )
        )
        return real(question, passages, pool, terms)

    rag.answer.find_short = spy
    rows = []
    for q in tqdm(questions[:limit], desc="questions", unit="q"):
        seen.clear()
        answer = pipeline.answer(q["question"])
        rows.append(
            {
                "question": q["question"],
                "answers": q["answers"],
                "title": q.get("title") or q["gold_passage_id"].split("#")[0],
                "abstained": answer.abstained,
                "short": answer.short,
                "pool": seen[0] if seen else None,
            }
        )
    cache.write_bytes(pickle.dumps(rows))
    return rows


def replay(rows: list[dict], weights: object) -> dict[str, float]:
    from rag.scoring import spans

    ems, f1s, given = [], [], []
    for r in rows:
        pred = ""
        if r["pool"] is not None and not r["abstained"]:
            sentences = [spans.AnswerSentence(t, s, d) for t, s, d in r["pool"][0]]
            span = spans.best_span(r["question"], sentences, r["pool"][1], weights)  # type: ignore[arg-type]
            pred = span.text if span else ""
        ems.append(short_em(pred, r["answers"]))
        f1s.append(short_f1(pred, r["answers"]))
        given.append(bool(pred))
    n = max(1, len(rows))
    answered = [f for f, g in zip(f1s, given, strict=True) if g]
    return {
        "short_em": round(sum(ems) / n, 4),
        "short_f1": round(sum(f1s) / n, 4),
        "coverage": round(sum(given) / n, 4),
        "f1_when_given": round(sum(answered) / max(1, len(answered)), 4),
    }


def main() -> None:
    from rag.scoring.spans import DEFAULT_SPAN_WEIGHTS, SpanWeights

    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/newsrag-exp/squad-short.pkl"))
    ap.add_argument("--grid", action="store_true")
    args = ap.parse_args()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    rows = collect(args.store, args.limit, args.cache)
    titles = sorted({r["title"] for r in rows})
    first = set(titles[: len(titles) // 2])
    fit = [r for r in rows if r["title"] in first]
    check = [r for r in rows if r["title"] not in first]
    print(
        "default",
        "fit",
        replay(fit, DEFAULT_SPAN_WEIGHTS),
        "check",
        replay(check, DEFAULT_SPAN_WEIGHTS),
    )
    if not args.grid:
        return
    best = None
    grid = itertools.product(
        [0.5, 1.0, 2.0], [0.0, 0.3, 0.6, 1.0], [0.0, 0.15, 0.3], [0.0, 0.15, 0.5], [0.0, 0.05, 0.1]
    )
    for s, p, a, u, m in tqdm(list(grid), desc="grid"):
        w = SpanWeights(sentence=s, proximity=p, agreement=a, untyped=u, min_margin=m)
        score = replay(fit, w)["short_f1"]
        if best is None or score > best[0]:
            best = (score, w)
    assert best is not None
    print("best on fit", best[1], replay(fit, best[1]), "check", replay(check, best[1]))


if __name__ == "__main__":
    main()
