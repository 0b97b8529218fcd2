"""`newsrag eval squad2` and the short-answer measures (`short_em`, `short_f1`).

The measures are checked against known SQuAD examples and against the official SQuAD v1.1
evaluation script's functions (reproduced below as the reference). The evaluation runs through
the real code path (store preparation, ingest, pipeline, answerer) over a tiny SQuAD-2-shaped
data set written for these tests, with the fake embedder; one slow test runs the command on
four real SQuAD 2.0 titles with the real model.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import FakeEmbedder
from hypothesis import given
from hypothesis import strategies as st
from support import require

from evaluation import squad2
from evaluation.metrics import (
    normalize_answer,
    short_em,
    short_f1,
    short_hit,
    short_prediction,
)
from evaluation.squad import evaluate
from evaluation.squad2 import evaluate_squad2, run_squad2, split_by_title, spread, title_halves
from rag.records import Answer, Citation
from rag.settings import Settings
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HALF_KEYS = {
    "questions",
    "unanswerable_abstention",
    "answerable_abstention",
    "containment",
    "short_em",
    "short_f1",
}


# --- the official SQuAD v1.1 evaluation script's functions, the reference -------------------


def _official_normalize(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_f1(prediction: str, ground_truth: str) -> float:
    prediction_tokens = _official_normalize(prediction).split()
    ground_truth_tokens = _official_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


class TestShortMeasures:
    def test_normalization_is_squads(self) -> None:
        assert normalize_answer("The  Buffalo Bills!") == "buffalo bills"
        assert normalize_answer("Levi's Stadium") == "levis stadium"
        assert normalize_answer("an apple a day") == "apple day"
        assert normalize_answer("Anthem of Theatre") == "anthem of theatre"  # whole words only
        assert normalize_answer("“Yes”") == "“yes”"  # only ASCII punctuation, as the script

    def test_exact_match(self) -> None:
        assert short_em("the Buffalo Bills", ["Buffalo Bills"]) == 1.0
        assert short_em("Denver Broncos.", ["Carolina Panthers", "denver broncos"]) == 1.0
        assert short_em("Broncos", ["Denver Broncos"]) == 0.0

    def test_f1_partial_overlap_and_best_gold(self) -> None:
        assert short_f1("Denver Broncos", ["Broncos"]) == pytest.approx(2 / 3)
        long = "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California"
        # 2 of 11 normalized gold tokens, precision 1: F1 = 2 * (2/11) / (1 + 2/11) = 4/13
        assert short_f1("Levi's Stadium", [long]) == pytest.approx(4 / 13)
        assert short_f1("Levi's Stadium", [long, "Levi's Stadium"]) == 1.0
        assert short_f1("Santa Clara", ["Denver"]) == 0.0

    def test_empty_prediction_scores_zero_against_answerable_golds(self) -> None:
        assert short_em("", ["Buffalo Bills"]) == 0.0
        assert short_f1("  ", ["Buffalo Bills"]) == 0.0
        # an unanswerable question (no gold): only saying nothing is right, as in SQuAD 2.0
        assert short_em("", []) == 1.0 and short_f1("x", []) == 0.0

    def test_an_abstained_answer_predicts_nothing(self) -> None:
        answer = Answer(question="q", text="t", short="Buffalo Bills", abstained=True)
        assert short_prediction(answer) == ""
        assert short_prediction(answer.model_copy(update={"abstained": False})) == "Buffalo Bills"

    @given(st.text(max_size=40), st.lists(st.text(min_size=1, max_size=40), max_size=3))
    def test_agrees_with_the_official_script(self, pred: str, golds: list[str]) -> None:
        assert normalize_answer(pred) == _official_normalize(pred)
        golds = [g for g in golds if g.strip()]
        if not pred.strip() or not golds:
            return
        em = max(float(_official_normalize(pred) == _official_normalize(g)) for g in golds)
        assert short_em(pred, golds) == em
        assert short_f1(pred, golds) == pytest.approx(max(_official_f1(pred, g) for g in golds))


# --- a tiny SQuAD-2-shaped data set ---------------------------------------------------------

PASSAGES = [
    ("Zeta_Harbour#0", "Zeta Harbour", "The Zeta Harbour lighthouse was built in 1871 by "
     "engineer Mara Quill. Its lamp can be seen from 30 kilometres away."),
    ("Alpha_Bridge#0", "Alpha Bridge", "The Alpha Bridge crosses the Orva river. It was opened "
     "in 1932 and carries four lanes of traffic."),
    ("Mango_Orchard#0", "Mango Orchard", "The Mango Orchard at Selbay grows twelve varieties of "
     "mango. Its oldest tree was planted by Tomas Reyna."),
    ("Delta_Museum#0", "Delta Museum", "The Delta Museum holds the largest collection of "
     "clockwork toys in the region. Its founder was the collector Ilse Barrow."),
    ("Kite_Festival#0", "Kite Festival", "The Kite Festival of Norrby takes place every August. "
     "Its record kite had a span of 41 metres."),
]  # fmt: skip
QUESTIONS = [  # (id, title, question, answers); no answers = unanswerable
    ("z1", "Zeta Harbour", "In what year was the Zeta Harbour lighthouse built?", ["1871"]),
    ("z2", "Zeta Harbour", "Who built the Zeta Harbour lighthouse?", ["Mara Quill"]),
    ("z3", "Zeta Harbour", "Who painted the Zeta Harbour lighthouse in 1990?", []),
    ("a1", "Alpha Bridge", "Which river does the Alpha Bridge cross?", ["the Orva river", "Orva"]),
    ("a2", "Alpha Bridge", "How many lanes of traffic does the Alpha Bridge carry?", ["four"]),
    ("a3", "Alpha Bridge", "Who designed the Alpha Bridge over the Orva?", []),
    ("m1", "Mango Orchard", "How many varieties of mango does the Selbay orchard grow?", ["twelve"]),
    ("m2", "Mango Orchard", "Who planted the oldest mango tree of the orchard?", ["Tomas Reyna"]),
    ("m3", "Mango Orchard", "When was the Mango Orchard at Selbay sold?", []),
    ("d1", "Delta Museum", "Who founded the Delta Museum?", ["Ilse Barrow", "the collector Ilse Barrow"]),
    ("d2", "Delta Museum", "What did the Delta Museum's founder collect before toys?", []),
    ("k1", "Kite Festival", "In which month is the Kite Festival of Norrby held?", ["August"]),
    ("k2", "Kite Festival", "How wide was the record kite of the Norrby festival?", ["41 metres"]),
    ("k3", "Kite Festival", "Who flew the record kite at Norrby?", []),
]  # fmt: skip
# sorted titles: Alpha Bridge, Delta Museum | Kite Festival, Mango Orchard, Zeta Harbour
FIRST = ["Alpha Bridge", "Delta Museum"]
SECOND = ["Kite Festival", "Mango Orchard", "Zeta Harbour"]


def _question(qid: str, title: str, question: str, answers: list[str]) -> dict[str, Any]:
    gold = next(p for p, t, _ in PASSAGES if t == title) if answers else None
    return {
        "id": qid,
        "question": question,
        "answers": answers,
        "is_impossible": not answers,
        "gold_passage_id": gold,
        "title": title,
    }


@pytest.fixture
def squad2_dir(tmp_path: Path) -> Path:
    data = tmp_path / "squad2"
    data.mkdir()
    passages = [{"id": i, "title": t, "text": x} for i, t, x in PASSAGES]
    (data / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))
    lines = [json.dumps(_question(*q)) + "\n" for q in QUESTIONS]
    (data / "questions.jsonl").write_text("".join(lines))
    return data


def test_titles_are_split_in_alphabetical_halves() -> None:
    questions = [_question(*q) for q in QUESTIONS]
    assert title_halves([q["title"] for q in questions]) == (FIRST, SECOND)
    halves = split_by_title(questions)
    assert [q["id"] for q in halves["first_half"]] == ["a1", "a2", "a3", "d1", "d2"]
    assert {q["title"] for q in halves["second_half"]} == set(SECOND)
    assert title_halves(["b", "a"]) == (["a"], ["b"])


def test_limit_spreads_over_the_file_with_both_kinds() -> None:
    questions = [_question(*q) for q in QUESTIONS]
    picked = spread(questions, 4)
    assert len(picked) == 4 and picked == spread(questions, 4)  # deterministic
    kinds = [q["is_impossible"] for q in picked]
    assert any(kinds) and not all(kinds)
    order = [questions.index(q) for q in picked]
    assert order == sorted(order)
    assert len({q["title"] for q in picked}) >= 3  # spread, not the first four lines
    assert spread(questions, None) == questions and spread(questions, 99) == questions
    assert sum(q["is_impossible"] for q in spread(questions[:3], 2)) == 1


def test_eval_through_the_real_pipeline(squad2_dir: Path, tmp_path: Path) -> None:
    settings = Settings(store_dir=tmp_path / "unused")
    fake = FakeEmbedder()
    m = run_squad2(squad2_dir, tmp_path / "store", None, settings, embedder=fake)
    assert set(m) == {"first_half", "second_half", "all"}  # the check half next to the whole
    assert HALF_KEYS <= set(m["first_half"]) and HALF_KEYS <= set(m["second_half"])
    assert m["all"]["questions"] == m["first_half"]["questions"] + m["second_half"]["questions"]
    assert m["first_half"]["titles"] == FIRST and m["second_half"]["titles"] == SECOND
    assert (m["first_half"]["questions"], m["second_half"]["questions"]) == (5, 9)
    assert (m["first_half"]["unanswerable"], m["second_half"]["unanswerable"]) == (2, 3)
    for half in (m["first_half"], m["second_half"]):
        for key in HALF_KEYS - {"questions"}:
            assert 0.0 <= half[key] <= 1.0, key
        assert half["citation_validity"] == 1.0
    assert json.loads(json.dumps(m)) == m
    # the store is reused: a second run with a limit embeds nothing and asks 2 per half
    again = run_squad2(squad2_dir, tmp_path / "store", 2, settings, embedder=fake)
    assert again["first_half"]["questions"] == again["second_half"]["questions"] == 2


def test_cli_prints_one_json_object_or_a_table(
    squad2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(
        squad2, "run_squad2", functools.partial(squad2.run_squad2, embedder=FakeEmbedder())
    )
    args = ["eval", "squad2", "--data", str(squad2_dir), "--store-dir", str(tmp_path / "s")]
    assert main([*args, "--limit", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"first_half", "second_half", "all"}
    assert out["first_half"]["questions"] == 3
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "unanswerable_abstention" in table and "second_half" in table and " all" in table
    assert main([*args, "--limit", "0"]) == 2


def _stub_pipeline(answers: dict[str, Answer]) -> Any:
    """Answers the questions with preset Answers (so the expected scores are known)."""
    retrieval = SimpleNamespace(passages=[], dense_ids=[], bm25_ids=[])
    return SimpleNamespace(
        retrieve=lambda q, top_k=10: retrieval,
        answerer=SimpleNamespace(answer=lambda q, r: answers[q]),
    )


def _answer(text: str, short: str = "", abstained: bool = False) -> Answer:
    cite = Citation(number=1, doc_id="d", chunk_id="d#1:0", title="t", passage=text, quote=text)
    return Answer(
        question="q", text=f"{text} [1]", citations=[cite], short=short, abstained=abstained
    )


def test_metrics_of_known_predictions() -> None:
    qs = {q[0]: _question(*q) for q in QUESTIONS}
    half = [qs[k] for k in ("z1", "z2", "z3", "a1", "a3")]
    answers = {
        # exact after normalization: EM 1, F1 1, contained
        qs["z1"]["question"]: _answer("It was built in 1871.", short="1871"),
        # partial: "Mara" vs "Mara Quill" = F1 2/3, EM 0; the text holds no gold answer
        qs["z2"]["question"]: _answer("An engineer called Mara.", short="Mara"),
        # unanswerable, abstained
        qs["z3"]["question"]: _answer("No answer.", abstained=True),
        # answerable but abstained: short ignored (0), not contained, counts as abstention
        qs["a1"]["question"]: _answer("The Orva river.", short="Orva", abstained=True),
        # unanswerable, answered anyway
        qs["a3"]["question"]: _answer("Someone.", short="Someone"),
    }
    m = evaluate_squad2(_stub_pipeline(answers), {"first_half": half, "second_half": []})
    first = m["first_half"]
    assert first["questions"] == 5
    assert first["unanswerable_abstention"] == 0.5
    assert first["answerable_abstention"] == pytest.approx(1 / 3, abs=1e-4)
    assert first["containment"] == pytest.approx(1 / 3, abs=1e-4)
    assert first["short_em"] == pytest.approx(1 / 3, abs=1e-4)
    assert first["short_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3, abs=1e-4)
    assert m["second_half"]["questions"] == 0 and m["second_half"]["short_em"] is None

    # `eval squad` reports the same two measures over its (answerable) questions
    v1 = [{"question": qs[k]["question"], "answers": qs[k]["answers"]} for k in ("z1", "z2")]
    out = evaluate(_stub_pipeline(answers), v1, progress=False)
    assert out["short_em"] == 0.5
    assert out["short_f1"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)


@pytest.mark.slow
def test_squad2_command_with_the_real_model(tmp_path: Path) -> None:
    """Four real titles (two per half: their sorted order is the global one) and all their
    passages, 20 questions per half, through the command line."""
    require((SHARED / "squad2-dev" / "questions.jsonl").exists(), "SQuAD 2.0 data missing")
    titles = ["Amazon rainforest", "Construction", "Jacksonville, Florida", "Sky (United Kingdom)"]
    data = tmp_path / "slice"
    data.mkdir()
    for name, folder in (("passages.jsonl", "squad-dev"), ("questions.jsonl", "squad2-dev")):
        lines = (SHARED / folder / name).read_text(encoding="utf-8").splitlines()
        keep = [x for x in lines if x and json.loads(x)["title"] in titles]
        (data / name).write_text("".join(x + "\n" for x in keep), encoding="utf-8")
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "ui.cli", "eval", "squad2", "--data", str(data)]
    cmd += ["--store-dir", str(store), "--limit", "20", "--json"]
    out = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout)
    assert m["first_half"]["titles"] == titles[:2] and m["second_half"]["titles"] == titles[2:]
    assert m["all"]["questions"] == 40
    for half in (m["first_half"], m["second_half"]):
        assert HALF_KEYS <= set(half)
        assert half["questions"] == 20
        assert half["answerable"] >= 5 and half["unanswerable"] >= 5
        assert half["citation_validity"] == 1.0
        assert half["answerable_abstention"] <= 0.5
        assert half["containment"] >= 0.3


@pytest.mark.parametrize(
    ("short", "gold", "hit"),
    [
        ("Buffalo Bills", "the Buffalo Bills", True),  # equal after normalization
        ("Bills", "Buffalo Bills", True),  # contained, shares a content word
        ("Buffalo Bills safety", "Buffalo Bills", True),
        ("the", "the Bills", False),  # contained but no content word
        ("Kansas City Chiefs", "Buffalo Bills", False),
        ("", "Buffalo Bills", False),  # no short answer is no hit
        ("Bill", "Buffalo Bills", False),  # a substring of a word is not containment
    ],
)
def test_realtimeqa_short_hit(short: str, gold: str, hit: bool) -> None:
    assert short_hit(short, gold) is hit
