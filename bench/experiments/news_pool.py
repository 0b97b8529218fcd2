"""What `news_scoring.py` reads and caches: the questions (RealTimeQA periods, SQuAD dev) and,
for each, the production retriever's run (`HybridRetriever` through `rag.pipeline.Pipeline`):
every scored candidate's raw features as `rag.scoring` computes them, its ordinal, what the
recency prior added, the chunk vectors the near-duplicate collapse compares, and a label.

Nothing here re-implements retrieval or scoring: `ranking` re-scores the cached features with
`rag.scoring.fusion_scores` under other `FusionWeights` and collapses near duplicates with
`rag.retrieval.collapse_near_duplicates`, so the weights fitted here are those of the scorer
that runs. `check_reproduces` says whether the production weights give back the production top
10 (they must).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag import scoring  # noqa: E402
from rag.retrieval import collapse_near_duplicates  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NEWSRAG_EXP_CACHE", "/work/data/newsrag-exp"))
REPO = Path(os.environ.get("REALTIMEQA_REPO", "/work/data/realtimeqa"))
SQUAD = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad-dev"))
SQUAD_DEV_TITLES = 10
TOP = 10  # hit@k and MRR@k are read off the top 10, as `eval realtimeqa` asks for
log = logging.getLogger("news_scoring")


# ----- questions ----------------------------------------------------------------------------


@dataclass
class Question:
    text: str
    as_of: int  # YYYYMMDD, or 0 for no date restriction
    answer: str = ""  # news: the gold answer string
    gold_doc: str = ""  # SQuAD: the gold passage's doc id


def news_questions(date_from: str, date_to: str) -> tuple[list[Question], object]:
    from evaluation.realtimeqa import load_realtimeqa

    data = load_realtimeqa(REPO, dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to))
    qs = [Question(q.question, int(q.date.strftime("%Y%m%d")), q.answer) for q in data.answerable()]
    return qs, data


def squad_questions() -> tuple[list[Question], np.ndarray]:
    rows = [json.loads(x) for x in open(SQUAD / "questions.jsonl")]
    titles = list(dict.fromkeys(json.loads(x)["title"] for x in open(SQUAD / "passages.jsonl")))
    dev = np.array([r["title"] in titles[:SQUAD_DEV_TITLES] for r in rows])
    qs = [
        Question(r["question"], 0, gold_doc=f"squad-passages.jsonl#{r['gold_passage_id']}")
        for r in rows
    ]
    return qs, dev


# ----- one question's retrieval, as the production retriever ran it --------------------------


@dataclass
class QFeatures:
    """`Retrieval.scored` of one question, reduced to what re-scoring needs (rows in the
    production order, best first)."""

    ids: list[str]  # chunk ids
    feats: np.ndarray  # (C, len(scoring.FEATURES)): `scoring.candidate_features`
    ordinals: np.ndarray  # (C,) each chunk's position in its article (the lede prior's input)
    bonus: np.ndarray  # (C,) the recency prior: final score minus fused score
    label: np.ndarray  # (C,) the chunk holds the answer / is the gold passage
    top: list[str]  # the production top 10 chunk ids (after the near-duplicate collapse)
    side_bm25: np.ndarray  # labels of the BM25 side's top 10 (`Retrieval.bm25_ids`)
    side_dense: np.ndarray  # labels of the dense side's top 10


@dataclass
class Run:
    """A store's questions as retrieved: per question its features; the chunk vectors and
    doc ids of every chunk any question scored (the collapse compares vectors)."""

    questions: list[QFeatures]
    vectors: dict[str, np.ndarray]
    doc_ids: dict[str, str]
    method: scoring.Method  # `Settings.fusion` of the run
    dedupe: float  # `Settings.dedupe_threshold` of the run


def retrieve_all(name: str, store_dir: Path, collection: str, qs: list[Question]) -> Run:
    """Every question through `Pipeline.retrieve` (news: as of its date, as `newsrag eval
    realtimeqa` asks), cached under NEWSRAG_EXP_CACHE as NAME.retrieved.pkl."""
    path = CACHE / f"{name}.retrieved.pkl"
    if path.exists():
        run: Run = pickle.loads(path.read_bytes())
        if len(run.questions) == len(qs):
            return run
    from evaluation.realtimeqa import contains
    from rag.pipeline import Pipeline
    from rag.records import Filters
    from rag.settings import Settings

    settings = Settings(store_dir=store_dir, collection=collection)
    pipeline = Pipeline(settings)
    vectors: dict[str, np.ndarray] = {}
    doc_ids: dict[str, str] = {}
    texts: dict[str, str] = {}

    def fetch(ids: list[str]) -> None:
        missing = [c for c in dict.fromkeys(ids) if c not in texts]
        for h in pipeline.store.get_chunks(missing, with_vectors=True):
            texts[h.chunk_id], doc_ids[h.chunk_id] = h.text, h.doc_id
            if h.vector is not None:
                vectors[h.chunk_id] = np.asarray(h.vector, np.float32)

    def labels(ids: list[str], q: Question) -> np.ndarray:
        if q.answer:
            return np.array([contains(texts.get(c, ""), q.answer) for c in ids], bool)
        return np.array([doc_ids.get(c) == q.gold_doc for c in ids], bool)

    out = []
    for i, q in enumerate(qs):
        if i % 50 == 0:
            log.info("%s: question %d of %d", name, i, len(qs))
        day = dt.datetime.strptime(str(q.as_of), "%Y%m%d").date() if q.as_of else None
        filters = Filters(until=day)  # "as of its question date", as `eval realtimeqa` asks
        r = pipeline.retrieve(q.text, filters=filters, top_k=TOP)
        cands = [c for c, _ in r.scored]
        ids = [c.chunk_id for c in cands]
        fetch(ids + r.bm25_ids[:TOP] + r.dense_ids[:TOP])
        feats = scoring.candidate_features(cands, r.terms)
        ordinals = np.array([c.ordinal for c in cands], np.float64)
        fused = scoring.fusion_scores(feats, scoring.DEFAULT_WEIGHTS, settings.fusion, ordinals)
        final = np.array([s for _, s in r.scored], np.float64)
        out.append(
            QFeatures(
                ids=ids,
                feats=feats,
                ordinals=ordinals,
                bonus=final - fused,
                label=labels(ids, q),
                top=[p.hit.chunk_id for p in r.passages],
                side_bm25=labels(r.bm25_ids[:TOP], q),
                side_dense=labels(r.dense_ids[:TOP], q),
            )
        )
    run = Run(out, vectors, doc_ids, settings.fusion, settings.dedupe_threshold)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(run))
    return run


# ----- re-scoring with other weights --------------------------------------------------------


@dataclass
class _Row:
    index: int
    vector: np.ndarray  # what `collapse_near_duplicates` compares


def ranking(qf: QFeatures, run: Run, w: scoring.FusionWeights) -> np.ndarray:
    """Rows of `qf`, best first, as the retriever would rank them under weights `w`: fused
    score (`rag.scoring.fusion_scores`, lede prior included), the run's recency bonus, near
    duplicates collapsed (`rag.retrieval.collapse_near_duplicates`), the top 10."""
    if not qf.ids:
        return np.zeros(0, int)
    scores = scoring.fusion_scores(qf.feats, w, run.method, qf.ordinals) + qf.bonus
    order = np.argsort(-scores, kind="stable")
    rows = [_Row(int(i), run.vectors[qf.ids[i]]) for i in order if qf.ids[i] in run.vectors]
    kept = collapse_near_duplicates(rows, run.dedupe)[:TOP]
    return np.array([r.index for r in kept], int)


def check_reproduces(name: str, run: Run) -> None:
    """The production weights must give back the production top 10, question by question."""
    differ = sum(
        [qf.ids[i] for i in ranking(qf, run, scoring.DEFAULT_WEIGHTS)] != qf.top
        for qf in run.questions
    )
    log.info(
        "%s: re-scoring reproduces the retriever on %d of %d questions",
        name,
        len(run.questions) - differ,
        len(run.questions),
    )
