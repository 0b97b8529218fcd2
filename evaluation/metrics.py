"""Measures shared by the evaluations (`evaluation.squad`, `.squad2`, `.llm_answerer`),
so every number called "containment", "citation validity" or "short EM/F1" is computed one way."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rag import citecheck
from rag.records import Answer
from rag.sentences import split_sentences
from rag.text import tokenize


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def unanswerable_sets() -> dict[str, list[dict[str, Any]]]:
    """The questions no corpus here answers, shipped as package data: `unanswerable` (used to
    check abstention while it was designed) and `unanswerable_heldout` (written after the first
    abstention model, before its successor's features were chosen, and never used to fit
    anything: a check that abstention generalizes beyond the first set)."""
    data = resources.files("evaluation") / "data"
    return {
        name: [json.loads(line) for line in (data / file).read_text("utf-8").splitlines() if line]
        for name, file in (
            ("unanswerable", "unanswerable.jsonl"),
            ("unanswerable_heldout", "unanswerable-heldout.jsonl"),
        )
    }


def contains_answer(text: str, answers: list[str]) -> bool:
    norm = _norm(text)
    return any(_norm(a) in norm for a in answers if a.strip())


def _norm(text: str) -> str:
    text = re.sub(r"\[\d+\]", " ", text.lower())
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """The official SQuAD normalization (v1.1 and v2.0 evaluation scripts): lower case, drop
    ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def short_em(prediction: str, golds: list[str]) -> float:
    """Exact match after normalization, the best over the gold answers (SQuAD v1.1). An empty
    prediction scores 0 against answerable golds; with no gold at all (an unanswerable
    question) only an empty prediction scores 1, as in SQuAD 2.0."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return float(not prediction.strip())
    if not prediction.strip():
        return 0.0
    norm = normalize_answer(prediction)
    return max(float(norm == normalize_answer(g)) for g in golds)


def short_f1(prediction: str, golds: list[str]) -> float:
    """Token F1 after normalization, the best over the gold answers (SQuAD v1.1); empty
    predictions and unanswerable questions as in `short_em`."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return float(not prediction.strip())
    if not prediction.strip():
        return 0.0
    return max(_token_f1(prediction, g) for g in golds)


SHORT_HIT_EXTRA_WORDS = 3


def short_hit(prediction: str, gold: str) -> bool:
    """RealTimeQA's short-answer hit (issue 15): after normalization the short answer equals
    the gold choice, or one contains the other and they share a content word (so "Bills" for
    "Buffalo Bills" counts, "the" for "the Bills" does not), and the short answer is at most
    `SHORT_HIT_EXTRA_WORDS` words longer than the gold."""
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if not pred or not ref:
        return False
    if pred == ref:
        return True
    if len(pred.split()) > len(ref.split()) + SHORT_HIT_EXTRA_WORDS:
        return False  # a sentence that contains the gold is no short answer (issue 19)
    contained = f" {pred} " in f" {ref} " or f" {ref} " in f" {pred} "
    return contained and bool(set(tokenize(pred)) & set(tokenize(ref)))


def short_prediction(answer: Answer) -> str:
    """What the short answer predicts: nothing when the answer abstained."""
    return "" if answer.abstained else answer.short


def citation_valid(answer: Answer) -> list[bool]:
    return [bool(c.quote) and c.quote in c.passage for c in answer.citations]


@dataclass
class RankMetrics:
    reciprocal: list[float] = field(default_factory=list)
    hit1: list[bool] = field(default_factory=list)
    hit5: list[bool] = field(default_factory=list)
    hit10: list[bool] = field(default_factory=list)

    def add(self, ranked_doc_ids: list[str], gold: str) -> None:
        seen: list[str] = list(dict.fromkeys(ranked_doc_ids))[:10]
        rank = seen.index(gold) + 1 if gold in seen else 0
        self.reciprocal.append(1.0 / rank if rank else 0.0)
        self.hit1.append(rank == 1)
        self.hit5.append(0 < rank <= 5)
        self.hit10.append(0 < rank <= 10)

    def summary(self) -> dict[str, float]:
        def mean(xs: list) -> float:
            return round(float(np.mean(xs)), 4) if xs else 0.0

        return {
            "mrr_at_10": mean(self.reciprocal),
            "recall_at_1": mean(self.hit1),
            "recall_at_5": mean(self.hit5),
            "recall_at_10": mean(self.hit10),
        }


_NUMBER = re.compile(r"\[(\d+)\]")


def answer_sentences(answer: Answer) -> list[tuple[str, list[int]]]:
    return [(d.text, d.cited) for d in citecheck.split_draft(answer.text)]


def sentence_support(answer: Answer, idf: dict[str, float] | None = None) -> list[float]:
    """Support of each sentence of a final answer by the citation(s) it carries (0 if none)."""
    by_number = {c.number: c for c in answer.citations}
    out: list[float] = []
    for text, cited in answer_sentences(answer):
        best = 0.0
        for n in cited:
            c = by_number.get(n)
            if c is None:
                continue
            ev = citecheck.Evidence(c.title, split_sentences(c.passage) or [c.passage])
            s_pass = citecheck.support_matrix(text, [ev], idf=idf)[0]
            best = max(best, float(s_pass.max(initial=0.0)))
        out.append(best)
    return out


def citations_valid(answer: Answer) -> tuple[int, int]:
    """(valid citations, citations); an answer with a dangling [n] counts all as invalid."""
    numbers = {c.number for c in answer.citations}
    dangling = any(int(n) not in numbers for n in _NUMBER.findall(answer.text))
    ok = sum(1 for c in answer.citations if c.checked and c.quote and c.quote in c.passage)
    return (0 if dangling else ok), len(answer.citations)
