"""Answers over a small real corpus: right passage cited, filters, quotes, abstention, chat."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import Ingestor
from rag import query
from rag.condense import condense, is_follow_up
from rag.pipeline import ChatSession, Pipeline
from rag.records import Answer, Filters
from rag.settings import Settings


@pytest.fixture(scope="module")
def pipeline(news_settings: Settings) -> Pipeline:
    return Pipeline(news_settings)


PARAPHRASES = [
    ("What will the new crossing in Port Ellery cost?", "harbour-bridge.md", "84 million"),
    (
        "Which grain did farmers plant instead because it uses less water?",
        "wheat-harvest.md",
        "sorghum",
    ),
    ("Which grandmaster lost the chess final to the teenager?", "chess-final.md", "Piotr Adamek"),
    ("Why did Voltreon choose the former airfield site?", "battery-plant.md", "rail connections"),
    ("Where was the stolen prayer book found?", "museum-theft.md", "antiques shop"),
    ("How many people will the sodium-ion cell plant employ?", "battery-plant.md", "1,800"),
]


@pytest.mark.slow
class TestAnswers:
    @pytest.mark.parametrize(("question", "doc_id", "fact"), PARAPHRASES)
    def test_paraphrased_question_cites_the_right_passage(
        self, pipeline: Pipeline, question: str, doc_id: str, fact: str
    ) -> None:
        answer = pipeline.answer(question)
        assert not answer.abstained, answer.text
        assert "[1]" in answer.text
        assert answer.citations[0].doc_id == doc_id
        assert fact in answer.text
        cited = {c.doc_id for c in answer.citations}
        assert cited == {doc_id}

    @pytest.mark.parametrize(
        ("question", "doc_id", "fact"),
        [
            ("Who did the young champion beat in the last game?", "chess-final.md", "Adamek"),
            ("Where was the stolen prayer book found?", "museum-theft.md", "antiques shop"),
        ],
    )
    def test_hard_paraphrase_still_surfaces_the_fact(
        self, pipeline: Pipeline, question: str, doc_id: str, fact: str
    ) -> None:
        """Few shared words: the answer may be hedged, but the fact is quoted and cited."""
        answer = pipeline.answer(question)
        assert answer.citations[0].doc_id == doc_id
        assert fact in answer.text and "[1]" in answer.text

    def test_every_quote_is_a_verbatim_span_of_its_passage_and_article(
        self, pipeline: Pipeline, news_settings: Settings
    ) -> None:
        for question, _, _ in PARAPHRASES:
            answer = pipeline.answer(question)
            for c in answer.citations:
                assert c.quote and c.quote in c.passage
                offset = c.quote_start - c.passage_start
                assert c.passage[offset : offset + len(c.quote)] == c.quote
                assert c.quote_end - c.quote_start == len(c.quote)
                assert f"[{c.number}]" in answer.text
            numbers = [int(n) for n in __import__("re").findall(r"\[(\d+)\]", answer.text)]
            assert set(numbers) == {c.number for c in answer.citations}

    def test_off_topic_questions_abstain_and_show_closest(self, pipeline: Pipeline) -> None:
        for question in [
            "What is the boiling point of mercury?",
            "Who painted the Sistine Chapel ceiling?",
            "How do I reset my router password?",
        ]:
            answer = pipeline.answer(question)
            assert answer.abstained, (question, answer.text)
            assert "could not find" in answer.text
            assert answer.citations, "the closest passages are still shown"

    def test_source_filter_is_honoured(self, pipeline: Pipeline) -> None:
        only = Filters(sources=["Coastal Herald"])
        for question in ["What happened in Port Ellery?", "Who welcomed the renewable power?"]:
            answer = pipeline.answer(question, filters=only)
            assert answer.citations
            assert {c.source for c in answer.citations} == {"Coastal Herald"}

    def test_date_filter_is_honoured(self, pipeline: Pipeline) -> None:
        since = Filters(since=dt.date(2025, 1, 1))
        answer = pipeline.answer("What did the council approve?", filters=since)
        assert all(c.published >= "2025-01-01" for c in answer.citations)
        until = Filters(until=dt.date(2024, 6, 30))
        answer = pipeline.answer("How many jobs will be created?", filters=until)
        assert all(c.published and c.published <= "2024-06-30" for c in answer.citations)

    def test_doc_id_filter_and_top_k(self, pipeline: Pipeline) -> None:
        retrieval = pipeline.retrieve(
            "news", filters=Filters(doc_ids=["chess-final.md", "museum-theft.md"]), top_k=5
        )
        assert {p.hit.doc_id for p in retrieval.passages} <= {"chess-final.md", "museum-theft.md"}
        assert len(pipeline.retrieve("harbour", top_k=2).passages) <= 2

    def test_answer_round_trips_through_json(self, pipeline: Pipeline) -> None:
        answer = pipeline.answer(PARAPHRASES[0][0])
        again = Answer.model_validate_json(answer.model_dump_json())
        assert again == answer
        assert {"embed_ms", "total_ms"} <= set(answer.timings)

    def test_public_query_function(self, news_settings: Settings) -> None:
        answer = query(
            "Where was the manuscript found?",
            filters={"sources": ["Culture Daily"]},
            settings=news_settings,
        )
        assert answer.citations[0].title == "Stolen medieval manuscript recovered in Brussels"

    def test_chat_follow_up_is_condensed(self, pipeline: Pipeline) -> None:
        chat = ChatSession(pipeline)
        first = chat.ask("Who won the national chess championship?")
        assert "Lena Varga" in first.text
        follow = chat.ask("Where did she learn to play?")
        assert follow.retrieval_query != "Where did she learn to play?"
        assert follow.citations[0].doc_id == "chess-final.md"
        assert "grandfather" in follow.text

    def test_stream_yields_text_then_the_answer(self, pipeline: Pipeline) -> None:
        items = list(pipeline.stream(PARAPHRASES[2][0]))
        assert isinstance(items[-1], Answer)
        assert "".join(i for i in items[:-1] if isinstance(i, str)) == items[-1].text


class TestCondense:
    def test_standalone_question_is_left_alone(self) -> None:
        q = "How much will the Port Ellery harbour bridge cost?"
        assert condense(q, [("Who won the chess final?", "Lena Varga won. [1]")]) == q

    def test_follow_up_carries_previous_terms(self) -> None:
        history = [("What did Voltreon announce in Dunmore?", "A gigafactory. [1]")]
        assert is_follow_up("And what did the critics say?")
        q = condense("And what did the critics say?", history)
        assert "Voltreon" in q and "Dunmore" in q

    def test_follow_up_reads_the_last_turn_only(self) -> None:
        history = [
            ("Who won the national chess championship?", "Lena Varga won the final. [1]"),
            ("Which grandmaster did she beat?", "She beat Piotr Adamek. [1]"),
            ("What did Voltreon announce in Dunmore?", "A battery plant, said Peter Holm. [1]"),
        ]
        q = condense("Where did Peter learn it?", history)
        assert "Voltreon" in q and "Dunmore" in q
        for older in ("chess", "championship", "grandmaster", "Lena", "Varga", "Adamek"):
            assert older not in q, q

    def test_no_history_no_change(self) -> None:
        assert condense("What did he say next?", None) == "What did he say next?"


@pytest.mark.slow
class TestAskCommand:
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
        )

    def test_answered_abstained_and_json(self, news_settings: Settings) -> None:
        out = self.run(news_settings, "How much will the harbour bridge cost?")
        assert out.returncode == 0, out.stderr
        assert "84 million" in out.stdout and "Sources:" in out.stdout
        assert "[1] Council approves new harbour bridge" in out.stdout

        out = self.run(news_settings, "What is the boiling point of mercury?")
        assert out.returncode == 0
        assert "could not find" in out.stdout and "Closest passages:" in out.stdout

        out = self.run(
            news_settings, "Who won the chess title?", "--json", "--source", "Coastal Herald"
        )
        data = json.loads(out.stdout)
        assert data["citations"][0]["doc_id"] == "chess-final.md"

    def test_ask_prints_no_progress_bar(self, news_settings: Settings) -> None:
        """Loading the model is not long work: stderr stays clean for scripts and terminals."""
        out = self.run(news_settings, "How much will the harbour bridge cost?")
        assert out.returncode == 0, out.stderr
        assert "84 million" in out.stdout
        assert "Loading weights" not in out.stderr
        assert "it/s]" not in out.stderr and "%|" not in out.stderr, out.stderr

    def test_no_store_is_a_clear_error(self, tmp_path: Path) -> None:
        settings = Settings(corpus_dir=tmp_path / "c", store_dir=tmp_path / "none")
        out = self.run(settings, "anything?")
        assert out.returncode == 2
        assert "newsrag ingest" in out.stderr
        assert "Traceback" not in out.stderr
        assert not (tmp_path / "none").exists()  # asking leaves no empty store behind

    def test_bad_date_is_a_usage_error(self, news_settings: Settings) -> None:
        out = self.run(news_settings, "x", "--since", "yesterday")
        assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr

    def test_bad_question_or_option_is_a_usage_error(self, news_settings: Settings) -> None:
        out = self.run(news_settings, "   ")
        assert out.returncode == 2 and "question: the question is empty" in out.stderr
        out = self.run(news_settings, "Who won?", "--as-of", "someday")
        assert out.returncode == 2 and "as_of: " in out.stderr and "YYYY-MM-DD" in out.stderr
        out = self.run(news_settings, "Who won?", "--top-k", "0")
        # refused by the option's own type (1..50) before a Query is built
        assert out.returncode == 2 and "-k/--top-k" in out.stderr
        assert "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Pipeline:  # noqa: ANN001
    """A pipeline over the shipped corpus/, ingested into a fresh store."""
    root = tmp_path_factory.mktemp("default")
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    settings = Settings(corpus_dir=corpus, store_dir=root / "store", collection="default")
    assert Ingestor(settings, embedder=real_embedder).run().added >= 1
    return Pipeline(settings)


@pytest.mark.slow
class TestDefaultCorpus:
    """What a new user meets after `make run`: the one shipped article."""

    @pytest.mark.parametrize(
        ("question", "fact"),
        [
            ("What are critics worried about?", "Critics argue"),
            ("Which public services will pilot OpenAI's tools?", "justice, education, defence"),
            ("What did Sam Altman say?", "Britain has a strong legacy"),
        ],
    )
    def test_questions_about_the_article_are_answered(
        self, pipe: Pipeline, question: str, fact: str
    ) -> None:
        answer = pipe.answer(question)
        assert not answer.abstained, answer.text
        assert fact in answer.text
        assert answer.citations[0].doc_id == "uk-openai-partnership.md"

    def test_unrelated_question_abstains(self, pipe: Pipeline) -> None:
        assert pipe.answer("Who is the prime minister of France?").abstained

    def test_no_sentence_is_quoted_twice(self, pipe: Pipeline) -> None:
        for q in ["What did Sam Altman say?", "What will OpenAI invest in?"]:
            quotes = [" ".join(c.quote.split()) for c in pipe.answer(q).citations]
            assert len(quotes) == len(set(quotes))
