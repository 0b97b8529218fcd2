"""Abstention rules from the short-answer evidence, on SQuAD 2.0 dev (issue 15).

Runs retrieval once per question (first and second half of the titles, `--limit` per half),
caches what the extractive answerer would see (the base abstention decision, the question's
type, the typed spans of the four best answer sentences, the best short answer's margin, the
question terms missing from those sentences and their idf), then replays candidate rules:
a rule is chosen on the first half (unanswerable abstention up, answerable abstention ≤ 0.05)
and reported on the second.

    .venv/bin/python bench/experiments/squad2_rules.py --store /work/data/squad-store --limit 1500
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
SQUAD = ROOT.parent / "shared" / "data" / "squad-dev"
SQUAD2 = ROOT.parent / "shared" / "data" / "squad2-dev"


def collect(store: Path, limit: int, cache: Path) -> dict[str, list[dict]]:
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from evaluation.squad import prepare_squad_store, squad_settings
    from evaluation.squad2 import load_squad2, split_by_title, spread
    from rag import answer as answering
    from rag import scoring
    from rag.pipeline import Pipeline
    from rag.scoring import spans
    from rag.settings import Settings
    from rag.text import tokenize

    settings = prepare_squad_store(squad_settings(Settings(), store), SQUAD)
    pipe = Pipeline(settings)
    halves = split_by_title(load_squad2(SQUAD2))
    out: dict[str, list[dict]] = {}
    for half, questions in halves.items():
        rows = []
        for q in tqdm(spread(questions, limit), desc=half, unit="q"):
            r = pipe.retrieve(q["question"], top_k=10)
            if not r.passages:
                continue
            base = pipe.answerer.should_abstain(r)
            ranked = [(p.candidate, p.score) for p in r.passages]
            cands = scoring.select_sentences(
                ranked, r.terms, max_sentences=6, idf=r.idf, question=q["question"]
            )
            pool = sorted(cands, key=lambda t: -t[2])[: answering.SHORT_SENTENCES]
            sents = answering.answer_sentences(r.passages, pool)
            span = spans.best_span(q["question"], sents, r.terms)
            typed = spans.answer_spans(q["question"], sents)
            first = set(tokenize(sents[0].text)) if sents else set()
            anywhere = set().union(*(tokenize(s.text) for s in sents)) if sents else set()
            missing_first = [r.idf.get(t, 0.0) for t in r.terms if t not in first]
            missing_any = [r.idf.get(t, 0.0) for t in r.terms if t not in anywhere]
            rows.append(
                {
                    "impossible": bool(q.get("is_impossible")),
                    "answers": q.get("answers") or [],
                    "base": base,
                    "qtype": spans.question_type(q["question"]),
                    "short": span.text if span else "",
                    "typed": len(typed),
                    "lacks": spans.lacks_typed_evidence(q["question"], sents),
                    "terms": len(r.terms),
                    "missing_first": missing_first,
                    "missing_any": missing_any,
                    "top": float(r.passages[0].score),
                }
            )
        out[half] = rows
    cache.write_bytes(pickle.dumps(out))
    return out


def rates(rows: list[dict], rule) -> tuple[float, float]:  # noqa: ANN001
    un = [rule(r) for r in rows if r["impossible"]]
    an = [rule(r) for r in rows if not r["impossible"]]
    return round(sum(un) / max(1, len(un)), 4), round(sum(an) / max(1, len(an)), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=1500)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/newsrag-exp/squad2-rules.pkl"))
    args = ap.parse_args()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    data = collect(args.store, args.limit, args.cache)
    fit, check = data["first_half"], data["second_half"]
    rules = {
        "base": lambda r: r["base"],
        "base+lacks": lambda r: r["base"] or r["lacks"],
        "base+no typed short": lambda r: r["base"] or (r["qtype"] != "any" and not r["short"]),
    }
    for t in (6.0, 7.0, 8.0, 9.0, 10.0, 11.0):
        rules[f"base+missing idf>{t} any"] = lambda r, t=t: (
            r["base"] or max(r["missing_any"], default=0) > t
        )
        rules[f"base+missing idf>{t} first"] = lambda r, t=t: (
            r["base"] or max(r["missing_first"], default=0) > t
        )
        rules[f"base+lacks+missing idf>{t} any"] = lambda r, t=t: (
            r["base"] or r["lacks"] or max(r["missing_any"], default=0) > t
        )
    for name, rule in rules.items():
        print(f"{name:40s} fit (unans, ans) {rates(fit, rule)}  check {rates(check, rule)}")


if __name__ == "__main__":
    main()
