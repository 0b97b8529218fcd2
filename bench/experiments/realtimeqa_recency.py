"""Does a recency prior (and reading "this week" as a window) help news questions?

Dev only: RealTimeQA weeks of 2024-01..06 (the issue's fitting split); the script refuses
later dates. A sample of questions whose answer string occurs in the first `--max-chars` of one
of the articles the RealTimeQA authors retrieved for it; those articles (deduplicated by URL,
truncated the same way to keep the run to minutes on 2 cores) are ingested with the ordinary
ingest pipeline into a store under --work (outside the repo: the data is not ours to commit).
Each question is asked as of its question date. Reported per configuration: passage hit@1/@5
(answer string in the passage text, case-insensitive), for all questions and for the
present-tense ones (`rag.temporal.is_present_question`).

    python bench/experiments/realtimeqa_recency.py --repo /work/data/realtimeqa --questions 80
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import sys
from pathlib import Path

DEV_END = dt.date(2024, 6, 30)


def load_questions(repo: Path, start: dt.date, end: dt.date, max_chars: int) -> list[dict]:
    out = []
    for qa_path in sorted((repo / "past").glob("*/*_qa.jsonl")):
        if not qa_path.name[:8].isdigit():
            continue
        day = dt.datetime.strptime(qa_path.name[:8], "%Y%m%d").date()
        if not start <= day <= end:
            continue
        gcs = {}
        gcs_path = qa_path.with_name(qa_path.name.replace("_qa.jsonl", "_gcs.jsonl"))
        for line in gcs_path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            gcs[rec["question_id"]] = rec["search_result"]
        for line in qa_path.read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            if not q.get("answer") or q["question_id"] not in gcs:
                continue
            answer = q["choices"][int(q["answer"][0])].strip()
            arts = []
            for a in gcs[q["question_id"]]:
                text = (a.get("text") or "")[:max_chars]
                pub = (a.get("publish_date") or "").replace("/", "-")[:10]
                arts.append(
                    {
                        "url": a["url"],
                        "title": a.get("title") or "",
                        "text": text,
                        "published": pub or None,
                    }
                )
            if len(answer) < 2 or not any(answer.lower() in a["text"].lower() for a in arts):
                continue
            out.append(
                {
                    "question": q["question_sentence"],
                    "answer": answer,
                    "as_of": dt.date.fromisoformat(q["question_date"].replace("/", "-")),
                    "articles": arts,
                }
            )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--from", dest="start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    p.add_argument("--to", dest="end", type=dt.date.fromisoformat, default=DEV_END)
    p.add_argument("--questions", type=int, default=80)
    p.add_argument("--max-chars", type=int, default=3000)
    p.add_argument("--work", type=Path, default=Path("/tmp/newsrag-rtqa-dev"))
    p.add_argument("--half-life", type=float, default=14.0)
    args = p.parse_args()
    if args.end > DEV_END or args.start.year != 2024:
        sys.exit("dev split only: 2024-01-01..2024-06-30 (later weeks are held out)")
    logging.basicConfig(level=logging.WARNING)

    from ingest import Ingestor
    from rag.pipeline import Pipeline, shared_bm25, shared_embedder, shared_store
    from rag.settings import Settings
    from rag.temporal import is_present_question

    qs = load_questions(args.repo, args.start, args.end, args.max_chars)
    random.Random(12).shuffle(qs)
    qs = qs[: args.questions]
    corpus = args.work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seen: dict[str, dict] = {}
    for q in qs:
        for a in q["articles"]:
            seen.setdefault(a["url"], {**a, "source": a["url"].split("/")[2]})
    (corpus / "articles.jsonl").write_text(
        "\n".join(json.dumps(a) for a in seen.values()) + "\n", encoding="utf-8"
    )
    base = Settings(corpus_dir=corpus, store_dir=args.work / "store", collection="rtqa-dev")
    summary = Ingestor(base, embedder=shared_embedder(base)).run()
    print(f"{len(qs)} questions, {len(seen)} articles; ingest: {summary.line()}", flush=True)
    store = shared_store(base)
    parts = {"store": store, "embedder": shared_embedder(base), "bm25": shared_bm25(base, store)}

    configs = {
        "no window, no prior": dict(
            question_windows=False, recency_weight=0.0, recency_weight_present=0.0
        ),
        "window, no prior": dict(recency_weight=0.0, recency_weight_present=0.0),
    }
    for w in (0.5, 1.0, 2.0):
        configs[f"window, present-only {w}"] = dict(recency_weight=0.0, recency_weight_present=w)
    for w in (0.25, 0.5, 1.0, 2.0):
        configs[f"window, all {w}"] = dict(recency_weight=w, recency_weight_present=w)
    configs["no window, all 1.0"] = dict(
        question_windows=False, recency_weight=1.0, recency_weight_present=1.0
    )
    present = [is_present_question(q["question"]) for q in qs]
    print(f"present-tense questions: {sum(present)}")
    print(f"{'configuration':32} {'hit@1':>6} {'hit@5':>6} {'pres@1':>7} {'pres@5':>7}")
    for name, over in configs.items():
        settings = base.model_copy(update={"recency_half_life_days": args.half_life, **over})
        pipe = Pipeline(settings, **parts)
        h1 = h5 = p1 = p5 = 0
        for q, pres in zip(qs, present, strict=True):
            r = pipe.retrieve(q["question"], as_of=q["as_of"], top_k=5)
            hits = [q["answer"].lower() in p.hit.text.lower() for p in r.passages]
            a1, a5 = bool(hits[:1] and hits[0]), any(hits)
            h1, h5 = h1 + a1, h5 + a5
            p1, p5 = p1 + (a1 and pres), p5 + (a5 and pres)
        n, m = len(qs), max(sum(present), 1)
        print(f"{name:32} {h1 / n:6.3f} {h5 / n:6.3f} {p1 / m:7.3f} {p5 / m:7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
