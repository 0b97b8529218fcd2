"""`newsrag eval squad2`: refusing what the corpus does not say, and short answers, on SQuAD 2.0.

SQuAD 2.0 dev (`../shared/data/squad2-dev/questions.jsonl`) asks 11,873 questions about the
paragraphs of the SQuAD v1.1 dev store; 5,945 of them were written to look answerable from a
paragraph that does not answer them. They are asked through the real pipeline against the same
store as `newsrag eval squad` (built from `../shared/data/squad-dev/passages.jsonl`, reused so
nothing is embedded twice) and scored separately for the two halves of the titles: the distinct
titles sorted alphabetically, the first `len // 2` are `first_half` (for fitting), the rest
`second_half` (for checking).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.metrics import (
    citation_valid,
    contains_answer,
    read_jsonl,
    short_em,
    short_f1,
    short_prediction,
)
from evaluation.splits import title_halves
from evaluation.squad import (
    DEFAULT_SQUAD_DIRS,
    REPO_ROOT,
    prepare_squad_store,
    squad_settings,
)
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.embedding import Embedder

DEFAULT_SQUAD2_DIRS = (
    Path("../shared/data/squad2-dev"),
    REPO_ROOT.parent / "shared" / "data" / "squad2-dev",
)
log = logging.getLogger(__name__)
HALVES = ("first_half", "second_half")
FIELDS = ("id", "question", "answers", "is_impossible", "title")


def find_squad2(data: Path | None) -> Path:
    """The folder holding SQuAD 2.0's questions.jsonl: `data`, else the shared default."""
    for cand in [data] if data else DEFAULT_SQUAD2_DIRS:
        if cand and (cand / "questions.jsonl").exists():
            return cand
    raise ValueError("SQuAD 2.0 data not found: pass --data DIR holding questions.jsonl")


def find_passages(data: Path) -> Path:
    """The folder holding the passages the questions are about: `data` itself when it has a
    passages.jsonl, else its sibling `squad-dev`, else the default SQuAD v1.1 folders."""
    for cand in (data, data.parent / "squad-dev", *DEFAULT_SQUAD_DIRS):
        if (cand / "passages.jsonl").exists():
            return cand
    raise ValueError(
        f"SQuAD passages not found: no passages.jsonl in {data}, {data.parent / 'squad-dev'} "
        "or ../shared/data/squad-dev"
    )


def load_squad2(data: Path) -> list[dict[str, Any]]:
    questions = read_jsonl(data / "questions.jsonl")
    for i, q in enumerate(questions, 1):
        missing = [f for f in FIELDS if f not in q]
        if missing:
            raise ValueError(f"{data / 'questions.jsonl'}: line {i} has no {', '.join(missing)}")
    return questions


def split_by_title(questions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """{"first_half": [...], "second_half": [...]}, each in file order."""
    first, _ = title_halves({q["title"] for q in questions})
    keep = set(first)
    return {
        "first_half": [q for q in questions if q["title"] in keep],
        "second_half": [q for q in questions if q["title"] not in keep],
    }


def spread(questions: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """`n` of the questions, deterministically spread over the file (so over the titles), with
    answerable and unanswerable ones in their proportion (at least one of each when both
    exist and n >= 2), in file order."""
    if not n or n >= len(questions):
        return list(questions)
    unans = [i for i, q in enumerate(questions) if q["is_impossible"]]
    ans = [i for i, q in enumerate(questions) if not q["is_impossible"]]
    k_un = round(n * len(unans) / len(questions))
    if unans and ans and n >= 2:
        k_un = min(max(k_un, 1), n - 1)
    k_un = min(k_un, len(unans))
    k_ans = min(n - k_un, len(ans))
    picked = _evenly(unans, k_un) + _evenly(ans, k_ans)
    return [questions[i] for i in sorted(picked)]


def _evenly(xs: list[int], k: int) -> list[int]:
    """k items of xs at the midpoints of k equal slices (distinct while k <= len(xs))."""
    return [xs[(2 * i + 1) * len(xs) // (2 * k)] for i in range(k)] if k else []


@dataclass
class HalfScores:
    """What one half of the titles scores; the short-answer metrics and containment count
    answerable questions only, an abstained answer or an empty `short` scoring 0."""

    titles: list[str] = field(default_factory=list)
    unanswerable_abstained: list[bool] = field(default_factory=list)
    answerable_abstained: list[bool] = field(default_factory=list)
    contained: list[bool] = field(default_factory=list)
    ems: list[float] = field(default_factory=list)
    f1s: list[float] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def add(self, q: dict[str, Any], answer: Any, ms: float) -> None:
        self.latencies.append(ms)
        self.valid.extend(citation_valid(answer))
        if q["is_impossible"]:
            self.unanswerable_abstained.append(answer.abstained)
            return
        golds = list(q["answers"])
        self.answerable_abstained.append(answer.abstained)
        self.contained.append(not answer.abstained and contains_answer(answer.text, golds))
        self.ems.append(short_em(short_prediction(answer), golds))
        self.f1s.append(short_f1(short_prediction(answer), golds))

    def summary(self) -> dict[str, Any]:
        def mean(xs: list[Any]) -> float | None:
            return round(float(np.mean(xs)), 4) if xs else None

        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        return {
            "questions": len(self.latencies),
            "answerable": len(self.answerable_abstained),
            "unanswerable": len(self.unanswerable_abstained),
            "unanswerable_abstention": mean(self.unanswerable_abstained),
            "answerable_abstention": mean(self.answerable_abstained),
            "containment": mean(self.contained),
            "short_em": mean(self.ems),
            "short_f1": mean(self.f1s),
            "citation_validity": mean(self.valid) if self.valid else 1.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "titles": self.titles,
        }


def evaluate_squad2(
    pipeline: Any, halves: dict[str, list[dict[str, Any]]], *, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Ask every question of both halves (as `newsrag eval squad` asks: top 10 passages, the
    pipeline's answerer) and score each half."""
    from tqdm import tqdm

    scores = {
        name: HalfScores(titles=sorted({q["title"] for q in halves[name]})) for name in HALVES
    }
    whole = HalfScores(titles=sorted({q["title"] for name in HALVES for q in halves[name]}))
    todo = [(name, q) for name in HALVES for q in halves[name]]
    for name, q in tqdm(todo, desc="questions", unit="q", disable=not progress):
        t0 = time.perf_counter()
        retrieval = pipeline.retrieve(q["question"], top_k=10)
        answer = pipeline.answerer.answer(q["question"], retrieval)
        ms = (time.perf_counter() - t0) * 1000
        scores[name].add(q, answer, ms)
        whole.add(q, answer, ms)
    return {**{name: scores[name].summary() for name in HALVES}, "all": whole.summary()}


def run_squad2(
    data: Path | None,
    store_dir: Path | None,
    limit: int | None,
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Build (or reuse) the SQuAD store, then ask the SQuAD 2.0 questions of both halves
    (`limit` per half, spread by `spread`)."""
    from rag.pipeline import Pipeline

    qdir = find_squad2(data)
    questions = load_squad2(qdir)
    s = prepare_squad_store(
        squad_settings(settings, store_dir), find_passages(qdir), embedder=embedder
    )
    halves = {name: spread(qs, limit) for name, qs in split_by_title(questions).items()}
    return evaluate_squad2(Pipeline(s, embedder=embedder), halves, progress=progress)


ROWS = (
    "questions",
    "answerable",
    "unanswerable",
    "unanswerable_abstention",
    "answerable_abstention",
    "containment",
    "short_em",
    "short_f1",
    "citation_validity",
    "p50_ms",
)


def format_squad2(m: dict[str, dict[str, Any]]) -> str:
    columns = [*HALVES, "all"] if "all" in m else list(HALVES)
    lines = [f"{'SQuAD 2.0 dev':26} " + " ".join(f"{c:>12}" for c in columns)]
    for key in ROWS:
        cells = []
        for name in columns:
            v = m[name].get(key)
            cells.append(
                "—" if v is None else f"{v:.3f}" if isinstance(v, float) and key != "p50_ms" else v
            )
        lines.append(f"{key:26} " + " ".join(f"{c!s:>12}" for c in cells))
    for name in HALVES:
        titles = m[name]["titles"]
        if titles:
            lines.append(f"{name}: {len(titles)} titles, {titles[0]} … {titles[-1]}")
    return "\n".join(lines)
