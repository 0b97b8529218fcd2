"""`newsrag eval`: the metrics it reports are computed right, and the command runs end to end
on a slice of SQuAD and on a user's own {question, answers} file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import require

from evaluation.metrics import RankMetrics, citation_valid, contains_answer
from rag.records import Answer, Citation

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad-dev"
KEYS = (
    "mrr_at_10",
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "containment",
    "citation_validity",
    "abstention_rate",
    "p50_ms",
    "p95_ms",
)


class TestMetrics:
    def test_rank_metrics(self) -> None:
        m = RankMetrics()
        m.add(["a", "a", "b"], "a")  # rank 1 (a chunk twice counts once)
        m.add(["x", "y", "z", "b"], "b")  # rank 4
        m.add(["x"] * 3, "b")  # missing
        s = m.summary()
        assert s["recall_at_1"] == pytest.approx(1 / 3, abs=1e-4)
        assert s["recall_at_5"] == pytest.approx(2 / 3, abs=1e-4)
        assert s["mrr_at_10"] == pytest.approx((1 + 0.25) / 3, abs=1e-4)

    def test_containment_ignores_case_markers_and_spacing(self) -> None:
        assert contains_answer("The Denver  Broncos [1] won.", ["denver broncos"])
        assert not contains_answer("The Panthers [1] lost.", ["Denver Broncos"])
        assert not contains_answer("anything", ["  "])

    def test_citation_validity(self) -> None:
        def cite(quote: str, passage: str) -> Citation:
            return Citation(
                number=1, doc_id="d", chunk_id="d#1:0", title="t", passage=passage, quote=quote
            )

        answer = Answer(
            question="q", text="t", citations=[cite("is here", "it is here"), cite("not", "x")]
        )
        assert citation_valid(answer) == [True, False]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", "eval", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def squad_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3 titles' first 12 passages each, and their questions."""
    require((SQUAD / "passages.jsonl").exists(), f"SQuAD data missing at {SQUAD}")
    passages = [json.loads(x) for x in (SQUAD / "passages.jsonl").open()]
    titles = list(dict.fromkeys(p["title"] for p in passages))[:3]
    keep = [p for t in titles for p in [q for q in passages if q["title"] == t][:12]]
    ids = {p["id"] for p in keep}
    questions = [
        q
        for q in map(json.loads, (SQUAD / "questions.jsonl").open())
        if q["gold_passage_id"] in ids
    ]
    out = tmp_path_factory.mktemp("squad-slice")
    (out / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in keep))
    (out / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return out


@pytest.mark.slow
class TestEvalCommand:
    def test_squad_slice_reports_every_metric(self, squad_slice: Path, tmp_path: Path) -> None:
        store = tmp_path / "store"
        args = ["squad", "--data", str(squad_slice), "--store-dir", str(store), "--json"]
        out = _run([*args, "--limit", "60"], {})
        assert out.returncode == 0, out.stderr[-2000:]
        m = json.loads(out.stdout)
        for key in KEYS:
            assert key in m, key
        for key in ("bm25", "dense"):
            assert set(m["baselines"][key]) == {
                "mrr_at_10",
                "recall_at_1",
                "recall_at_5",
                "recall_at_10",
            }
        assert m["questions"] == 60
        assert m["citation_validity"] == 1.0
        assert m["recall_at_10"] >= 0.9  # 36 passages: the gold one is nearly always found
        assert m["containment"] >= 0.6
        assert m["unanswerable_questions"] == 50
        assert set(m["unanswerable_abstention_by_kind"]) == {"near-topic", "off-topic"}
        assert m["unanswerable_abstention_by_kind"]["off-topic"] >= 0.7
        assert m["unanswerable_heldout_questions"] == 40
        # the second run reuses the store: nothing is ingested again, same numbers
        again = _run([*args, "--limit", "60"], {})
        assert json.loads(again.stdout)["mrr_at_10"] == m["mrr_at_10"]

    def test_own_jsonl_against_the_current_store(self, squad_slice: Path, tmp_path: Path) -> None:
        store = tmp_path / "store"
        built = _run(
            [
                "squad",
                "--data",
                str(squad_slice),
                "--store-dir",
                str(store),
                "--limit",
                "1",
                "--json",
            ],
            {},
        )
        assert built.returncode == 0, built.stderr[-2000:]
        mine = tmp_path / "mine.jsonl"
        mine.write_text(
            json.dumps(
                {
                    "question": "Which NFL team represented the AFC at Super Bowl 50?",
                    "answers": ["Denver Broncos"],
                }
            )
            + "\n"
        )
        env = {"NEWSRAG_STORE_DIR": str(store), "NEWSRAG_COLLECTION": "squad"}
        out = _run([str(mine), "--json"], env)
        assert out.returncode == 0, out.stderr[-2000:]
        m = json.loads(out.stdout)
        assert m["questions"] == 1 and m["containment"] == 1.0
        assert "mrr_at_10" not in m  # no gold passages in a plain {question, answers} file

        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"answers": ["x"]}) + "\n")
        out = _run([str(bad)], env)
        assert out.returncode == 2 and "no 'question' field" in out.stderr
        assert "Traceback" not in out.stderr
