"""The `Query`: validated once at the door, passed whole through the pipeline.

Unit tests of the validation (no model), a real-store test that a `Query` and the keyword
shorthand give the same answer, and the bounded pipeline cache.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict

import pytest
from pydantic import ValidationError

import rag
import rag.pipeline
from rag.pipeline import ChatSession, Pipeline
from rag.records import Filters, Query
from rag.settings import Settings


class TestValidation:
    def test_the_question_is_scrubbed_and_stripped(self) -> None:
        q = Query.of("  Who won?\ud800 ")
        assert q.question == "Who won?\ufffd"

    @pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
    def test_a_blank_question_names_the_problem(self, blank: str) -> None:
        with pytest.raises(ValueError, match=r"^question: the question is empty$"):
            Query.of(blank)

    def test_a_bad_date_says_how_to_write_one(self) -> None:
        with pytest.raises(ValueError, match=r"^as_of: .*'last tuesday' is not a date: use YYYY"):
            Query.of("Who won?", as_of="last tuesday")

    def test_dates_and_filters_are_parsed_once(self) -> None:
        q = Query.of(
            "Who won?",
            as_of="2024-03-12",
            filters={"sources": ["BBC"], "since": "2024-01-01"},
            history=[("Who ran?", "Ann and Bo. [1]")],
        )
        assert q.as_of == dt.date(2024, 3, 12)
        assert q.filters == Filters(sources=["BBC"], since=dt.date(2024, 1, 1))
        assert q.history == (("Who ran?", "Ann and Bo. [1]"),)

    def test_none_means_the_default(self) -> None:
        q = Query.of("Who won?", filters=None, history=None, top_k=None, as_of=None)
        assert q == Query(question="Who won?")
        assert q.filters.is_empty() and q.history == () and q.top_k is None

    def test_top_k_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"^top_k: .*greater than or equal to 1"):
            Query.of("Who won?", top_k=0)

    def test_an_unknown_option_is_named(self) -> None:
        with pytest.raises(ValueError, match=r"^topk: Extra inputs are not permitted"):
            Query.of("Who won?", topk=3)

    def test_options_beside_a_query_are_refused(self) -> None:
        with pytest.raises(TypeError, match=r"\['top_k'\] given beside a Query"):
            Query.of(Query(question="Who won?"), top_k=3)

    def test_a_query_is_not_changed_on_its_way(self) -> None:
        q = Query(question="Who won?")
        with pytest.raises(ValidationError, match="frozen"):
            q.top_k = 3  # type: ignore[misc]

    def test_public_query_rejects_bad_input_before_loading_anything(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def never(settings: Settings | None = None) -> Pipeline:
            raise AssertionError("the pipeline was built for a bad question")

        monkeypatch.setattr(rag.pipeline, "get_pipeline", never)
        with pytest.raises(ValueError, match="question is empty"):
            rag.query("   ")


@pytest.fixture(scope="module")
def pipeline(news_settings: Settings) -> Pipeline:
    return Pipeline(news_settings)


@pytest.mark.slow
class TestThroughThePipeline:
    """Real Chroma store, real MiniLM."""

    def test_a_query_and_the_keyword_shorthand_answer_alike(self, pipeline: Pipeline) -> None:
        asked = Query(
            question="Who won the chess title?",
            filters=Filters(sources=["Coastal Herald"]),
            top_k=2,
        )
        whole = pipeline.answer(asked)
        short = pipeline.answer(
            "Who won the chess title?", filters={"sources": ["Coastal Herald"]}, top_k=2
        )
        assert whole.text == short.text and not whole.abstained
        assert whole.citations[0].doc_id == "chess-final.md"
        assert {c.source for c in whole.citations} == {"Coastal Herald"}
        assert len(pipeline.retrieve(asked).passages) <= 2

    def test_every_step_is_timed(self, pipeline: Pipeline) -> None:
        answer = pipeline.answer("What will the new crossing in Port Ellery cost?")
        steps = {"embed_ms", "dense_ms", "bm25_ms", "fetch_ms", "score_ms", "answer_ms"}
        assert steps <= set(answer.timings), answer.timings
        assert answer.timings["total_ms"] >= answer.timings["embed_ms"]

    def test_passages_carry_their_evidence(self, pipeline: Pipeline) -> None:
        passages = pipeline.retrieve("Where was the stolen prayer book found?").passages
        assert passages
        for p in passages:
            assert p.candidate.chunk_id == p.hit.chunk_id
            assert p.sentence_vectors is not None
            assert p.sentence_vectors.shape == (len(p.sentences), p.vector.shape[0])
            assert len(p.candidate.sentence_texts) == len(p.sentences)

    def test_the_run_can_be_observed(self, pipeline: Pipeline) -> None:
        """`scored` shows every candidate the scorer ranked, with its signals, so evaluation
        need not copy the scorer to see inside."""
        r = pipeline.retrieve("Which grandmaster lost the chess final to the teenager?", top_k=2)
        ids = [c.chunk_id for c, _ in r.scored]
        scores = [s for _, s in r.scored]
        assert len(r.passages) == 2 and len(ids) > len(r.passages)
        assert scores == sorted(scores, reverse=True)
        assert set(ids) <= set(r.dense_ids) | set(r.bm25_ids)
        assert [p.hit.chunk_id for p in r.passages] == [
            i for i in ids if i in {p.hit.chunk_id for p in r.passages}
        ]
        assert r.passages[0].score == scores[ids.index(r.passages[0].hit.chunk_id)]
        for c, _ in r.scored:
            assert c.sentence_lex is not None and len(c.sentence_lex) == len(c.sentence_cos)
        assert r.passages[0].hit.doc_id == "chess-final.md"

    def test_a_chat_session_adds_its_history(self, pipeline: Pipeline) -> None:
        chat = ChatSession(pipeline)
        chat.ask(Query(question="Who won the national chess championship?"))
        follow = chat.ask(Query(question="Where did she learn to play?", top_k=3))
        assert follow.citations[0].doc_id == "chess-final.md"
        assert [q for q, _ in chat.history] == [
            "Who won the national chess championship?",
            "Where did she learn to play?",
        ]


def test_the_pipeline_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """A process that sees many settings (a test run, a server with per-request settings) keeps
    the most recently used few pipelines, not one per settings object ever seen."""
    monkeypatch.setattr(rag.pipeline, "_pipelines", OrderedDict())
    monkeypatch.setattr(rag.pipeline, "Pipeline", lambda settings: object())
    kept = rag.pipeline.PIPELINES_KEPT
    all_settings = [Settings(store_dir=tmp_path, top_k=k) for k in range(1, kept + 3)]
    first = rag.pipeline.get_pipeline(all_settings[0])
    assert rag.pipeline.get_pipeline(Settings(store_dir=tmp_path, top_k=1)) is first
    built = {}
    for s in all_settings[1:]:
        built[s.top_k] = rag.pipeline.get_pipeline(s)
        assert rag.pipeline.get_pipeline(all_settings[0]) is first  # the one in use stays
    assert len(rag.pipeline._pipelines) == kept
    assert rag.pipeline.get_pipeline(all_settings[-1]) is built[all_settings[-1].top_k]
    # the least recently used was dropped: asking again builds a new one
    assert rag.pipeline.get_pipeline(all_settings[1]) is not built[all_settings[1].top_k]
