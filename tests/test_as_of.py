"""Answers as of a date, end to end with the real model and a real store: `as_of` hides later
articles on both retrieval sides but not undated ones, relative time in the question becomes a
window, "latest" quotes the newest of two conflicting articles and says "as of", and the CLI's
`--as-of`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import Ingestor
from rag import query
from rag.pipeline import Pipeline
from rag.records import Filters
from rag.retrieval import Retrieval, published_date
from rag.settings import Settings


def _article(title: str, published: str | None, body: str) -> str:
    date = f"published: {published}\n" if published else ""
    return f"---\ntitle: {title}\nsource: Valley Post\n{date}---\n\n{body}\n"


ARTICLES = {
    "marrow-feb.md": _article(
        "Floods sweep through Marrow County",
        "2024-02-05",
        "Flash floods swept through Marrow County on Sunday after two days of heavy rain. "
        "The death toll from the Marrow County floods stands at 12, county officials said. "
        "Hundreds of homes along the river were evacuated.",
    ),
    "marrow-mar.md": _article(
        "Marrow County flood toll rises",
        "2024-03-10",
        "The death toll from the Marrow County floods has risen to 31, county officials said "
        "on Saturday. Several villages in the upper valley remain cut off by landslides.",
    ),
    "trevane-old.md": _article(
        "Trevane mayor will not seek another term",
        "2024-02-20",
        "Piet Olsen, the mayor of Trevane, announced that he will not run in the mayoral "
        "election in March. He has led the town for twelve years.",
    ),
    "trevane-vote.md": _article(
        "Ada Moss wins Trevane mayoral election",
        "2024-03-18",
        "Ada Moss won the Trevane mayoral election on Sunday with 54 percent of the vote. "
        "She promised to rebuild the flood defences along the river.",
    ),
    "kestrel-bridge.md": _article(
        "Kestrel bridge reopens",
        "2024-04-02",
        "The Kestrel bridge reopened to traffic on Tuesday after repairs costing 9 million "
        "pounds. Engineers replaced the corroded steel cables.",
    ),
    "garden-notes.md": _article(
        "Notes from my garden",
        None,
        "The quince tree in the garden flowered early this spring. The heirloom tomatoes were "
        "planted in the greenhouse in the first warm week.",
    ),
}


@pytest.fixture(scope="module")
def as_of_settings(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Settings:  # noqa: ANN001
    root = tmp_path_factory.mktemp("asof")
    settings = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="asof")
    settings.corpus_dir.mkdir(parents=True)
    for name, text in ARTICLES.items():
        (settings.corpus_dir / name).write_text(text, encoding="utf-8")
    assert Ingestor(settings, embedder=real_embedder).run().added == len(ARTICLES)
    return settings


@pytest.fixture(scope="module")
def pipe(as_of_settings: Settings) -> Pipeline:
    return Pipeline(as_of_settings)


def _docs(ids: list[str]) -> set[str]:
    return {cid.split("#")[0] for cid in ids}


def _seen(r: Retrieval) -> set[str]:
    """Every article either side returned, and those of the final passages."""
    return _docs(r.dense_ids) | _docs(r.bm25_ids) | {p.hit.doc_id for p in r.passages}


@pytest.mark.slow
class TestAsOf:
    def test_as_of_hides_later_articles_on_both_sides(self, pipe: Pipeline) -> None:
        q = "When did the Kestrel bridge reopen after the repairs?"
        before = pipe.retrieve(q, as_of="2024-03-20")
        assert before.dense_ids and before.bm25_ids  # both sides returned something...
        assert "kestrel-bridge.md" not in _seen(before)  # ...but nothing from April
        after = pipe.retrieve(q, as_of="2024-04-05")
        assert after.passages[0].hit.doc_id == "kestrel-bridge.md"
        assert "kestrel-bridge.md" in _docs(after.dense_ids) & _docs(after.bm25_ids)
        now = pipe.answer(q)  # default: as of today, everything published so far
        assert "9 million" in now.text or "Tuesday" in now.text
        assert now.asked_as_of  # the date it was answered as of is on the answer

    def test_undated_articles_stay_visible_under_as_of_on_both_sides(self, pipe: Pipeline) -> None:
        q = "What flowered early in the garden?"
        r = pipe.retrieve(q, as_of="2020-01-01")  # before every dated article
        assert r.passages[0].hit.doc_id == "garden-notes.md"
        assert _docs(r.dense_ids) == {"garden-notes.md"} == _docs(r.bm25_ids)
        # an explicit date window excludes undated articles, on both sides
        q = "What flowered in the garden by the river?"  # "river" is in dated articles too
        assert "garden-notes.md" in _seen(pipe.retrieve(q, as_of="2024-03-20"))
        windowed = pipe.retrieve(q, filters=Filters(since="2000-01-01"), as_of="2024-03-20")
        assert "garden-notes.md" not in _seen(windowed)
        assert windowed.dense_ids and windowed.bm25_ids

    def test_latest_prefers_the_newest_of_two_conflicting_articles(self, pipe: Pipeline) -> None:
        q = "What is the latest death toll from the Marrow County floods?"
        answer = pipe.answer(q, as_of="2024-03-20")
        assert not answer.abstained
        assert answer.text.startswith("As of 10 March 2024:"), answer.text
        assert answer.short == "31"  # not the older article's 12
        assert "31" in answer.text and " 12," not in answer.text
        assert answer.as_of == "2024-03-10"
        assert answer.citations[0].doc_id == "marrow-mar.md"
        # as of a date before the update, the older count is the answer
        earlier = pipe.answer(q, as_of="2024-03-01")
        assert "12" in earlier.text and "31" not in earlier.text
        assert all(c.doc_id != "marrow-mar.md" for c in earlier.citations)

    def test_this_week_and_last_month_are_windows_relative_to_as_of(self, pipe: Pipeline) -> None:
        week = pipe.retrieve("Who won the Trevane election this week?", as_of="2024-03-20")
        assert week.window is not None
        assert {p.hit.doc_id for p in week.passages} == {"trevane-vote.md"}
        answer = pipe.answer("Who won the Trevane election this week?", as_of="2024-03-20")
        assert "Ada Moss" in answer.text and answer.window.startswith("2024-03-14..2024-03-20")

        month = pipe.retrieve("What did the Trevane mayor announce last month?", as_of="2024-03-20")
        dates = {published_date(p.hit) for p in month.passages}
        assert dates and all(d is not None and (d.year, d.month) == (2024, 2) for d in dates)
        assert month.passages[0].hit.doc_id == "trevane-old.md"
        # the same words as of another date name another month: nothing then, so no window
        later = pipe.retrieve("What did the Trevane mayor announce last month?", as_of="2024-07-20")
        assert later.window is None and "Nothing was published" in later.notice
        assert later.passages  # fell back to every date up to as_of

    def test_public_query_takes_as_of(self, as_of_settings: Settings) -> None:
        answer = query(
            "What is the latest death toll from the Marrow County floods?",
            settings=as_of_settings,
            as_of="2024-03-01",
        )
        assert answer.asked_as_of == "2024-03-01" and "31" not in answer.text


@pytest.mark.slow
class TestCliAsOf:
    def run(self, settings: Settings, *args: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSRAG_STORE_DIR": str(settings.store_dir),
            "NEWSRAG_COLLECTION": settings.collection,
        }
        return subprocess.run(
            [sys.executable, "-m", "ui.cli", "ask", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[1],
        )

    def test_as_of_flag_and_json(self, as_of_settings: Settings) -> None:
        q = "What is the latest death toll from the Marrow County floods?"
        out = self.run(as_of_settings, q, "--as-of", "2024-03-01", "--json")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["asked_as_of"] == "2024-03-01"
        assert "31" not in data["text"] and "12" in data["text"]
        out = self.run(as_of_settings, q, "--as-of", "2024-03-20")
        assert out.returncode == 0, out.stderr
        first, second = out.stdout.splitlines()[:2]
        assert first == "Answer: 31 [1]"  # the short answer comes from the newest evidence
        assert second.startswith("As of 10 March 2024:")
        assert "(answered as of 2024-03-20)" in out.stdout

    def test_bad_as_of_is_a_one_line_usage_error(self, as_of_settings: Settings) -> None:
        out = self.run(as_of_settings, "anything?", "--as-of", "next friday")
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and "YYYY-MM-DD" in out.stderr
        assert "Traceback" not in out.stderr
