"""The reader's training data: what may be trained on, read into one example shape.

Allowed (the reader issue and `../shared/data/qa-train/README.md`): SQuADShifts new_wiki, reddit,
amazon (CC BY 4.0) and the SQuAD 2.0 train prefix (CC BY-SA 4.0); SQuAD 2.0 dev **first half of
its titles only** (the fit half of `newsrag eval squad2`); negatives made by pairing a question
with another paragraph of the same article; news by distant supervision from RealTimeQA 2022 and
2024-01..06 (the gold choice located in one of the question's own retrieved articles). Nothing
else: SQuAD 2.0's second half of titles and RealTimeQA 2024-07..12 are the checks.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Example:
    qid: str
    question: str
    context: str
    answer_start: int  # -1: no answer in this context
    answer_text: str
    source: str

    @property
    def impossible(self) -> bool:
        return self.answer_start < 0


def squad_file(path: Path, source: str) -> list[Example]:
    """A SQuAD-format JSON file (v1.1 or v2.0) as examples (first answer of each question)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for article in raw["data"]:
        for para in article["paragraphs"]:
            ctx = para["context"]
            for qa in para["qas"]:
                answers = qa.get("answers") or []
                if qa.get("is_impossible") or not answers:
                    out.append(Example(qa["id"], qa["question"], ctx, -1, "", source))
                    continue
                a = answers[0]
                out.append(
                    Example(
                        qa["id"], qa["question"], ctx, int(a["answer_start"]), a["text"], source
                    )
                )
    return out


def paired_negatives(examples: list[Example], n: int, seed: int) -> list[Example]:
    """Questions set against another paragraph of the same source that lacks their answer.

    Easier than SQuAD 2.0's crafted negatives, but they teach what a retrieved passage of the
    right topic without the fact looks like, the reader's commonest case in a RAG system."""
    rng = random.Random(seed)
    answerable = [e for e in examples if not e.impossible]
    contexts = list({e.context for e in answerable})
    out: list[Example] = []
    tries = 0
    while len(out) < n and tries < n * 5:
        tries += 1
        e = rng.choice(answerable)
        ctx = rng.choice(contexts)
        if ctx == e.context or e.answer_text.lower() in ctx.lower():
            continue
        out.append(Example(f"neg-{e.qid}-{tries}", e.question, ctx, -1, "", "paired-negative"))
    return out


def squad2_fit_half(squad2_dir: Path, passages: Path) -> list[Example]:
    """SQuAD 2.0 dev questions of the first alphabetical half of titles (the fit half)."""
    from evaluation.squad2 import split_by_title

    texts: dict[str, str] = {}
    by_title: dict[str, list[str]] = {}
    for line in passages.read_text(encoding="utf-8").splitlines():
        if line.strip():
            p = json.loads(line)
            texts[p["id"]] = p["text"]
            by_title.setdefault(p["title"], []).append(p["id"])
    questions = [
        json.loads(line)
        for line in (squad2_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    fit = split_by_title(questions)["first_half"]
    rng = random.Random(13)
    out = []
    for q in fit:
        if q["is_impossible"]:
            # Crafted against one paragraph of the title; the file does not say which, so the
            # question is paired with the title's paragraph that shares most words with it.
            ctx = closest_context(q["question"], [texts[i] for i in by_title.get(q["title"], [])])
            if ctx is None:
                continue
            out.append(Example(q["id"], q["question"], ctx, -1, "", "squad2-fit-unanswerable"))
            continue
        ctx = texts.get(q["gold_passage_id"] or "")
        if not ctx:
            continue
        for ans in sorted(q["answers"], key=len):
            at = ctx.find(ans)
            if at >= 0:
                out.append(Example(q["id"], q["question"], ctx, at, ans, "squad2-fit"))
                break
    rng.shuffle(out)
    return out


_WORD = re.compile(r"\w+")


def closest_context(question: str, contexts: list[str]) -> str | None:
    if not contexts:
        return None
    words = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
    return max(contexts, key=lambda c: len(words & {w.lower() for w in _WORD.findall(c)}))


NEWS_PERIODS = (
    (dt.date(2022, 1, 1), dt.date(2022, 12, 31)),
    (dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
)


def news_distant(repo: Path, window_chars: int = 900) -> list[Example]:
    """RealTimeQA 2022 and 2024-01..06: the gold choice located in one of the question's own
    articles; the context is a window of that article around the first occurrence (news is an
    inverted pyramid, so the earliest mention is the likeliest to state the fact)."""
    from evaluation.realtimeqa import _answer_pattern, load_realtimeqa

    out: list[Example] = []
    for start, end in NEWS_PERIODS:
        data = load_realtimeqa(repo, start, end)
        for q in data.questions:
            pat = _answer_pattern(q.answer)
            for url in q.urls:
                art = data.articles.get(url)
                if art is None:
                    continue
                text = f"{art.title}\n{art.text}"
                m = pat.search(text.lower())
                if not m:
                    continue
                lo = max(0, m.start() - window_chars // 3)
                lo = text.rfind(" ", 0, lo) + 1 if lo else 0
                hi = min(len(text), lo + window_chars)
                ctx = text[lo:hi]
                at = m.start() - lo
                out.append(Example(q.qid, q.question, ctx, at, text[m.start() : m.end()], "news"))
                break
    return out


def sample(xs: list[Example], n: int | None, seed: int) -> list[Example]:
    if n is None or n >= len(xs):
        return list(xs)
    return random.Random(seed).sample(xs, n)


def manifest(parts: dict[str, list[Example]]) -> dict[str, Any]:
    return {
        name: {
            "examples": len(xs),
            "unanswerable": sum(e.impossible for e in xs),
        }
        for name, xs in parts.items()
    }


def check_spans(examples: Iterable[Example]) -> None:
    for e in examples:
        if not e.impossible and e.context[e.answer_start : e.answer_start + len(e.answer_text)] != (
            e.answer_text
        ):
            raise ValueError(f"{e.source}:{e.qid}: answer_start does not point at the answer")
