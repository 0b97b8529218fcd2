"""The short answer (`Answer.short`) on every surface: chat Markdown, `/ask`, the CLI and --json.

Answers are built here directly (or the CLI's `query` is monkeypatched), so these tests do not
depend on the extractor that fills `short`.
"""

from __future__ import annotations

import json

import pytest

import rag
import rag.store
from rag.records import Answer, Citation, Query
from ui import cli, render

QUOTE = "Damar Hamlin has played safety for the Buffalo Bills since 2021."
ARTICLE_START = 40  # offset of the quote in its article
SCRIPT = "<script>window.__pwned=1</script>"


def citation(number: int = 1, quote: str = QUOTE, **kw) -> Citation:
    base = dict(
        number=number,
        doc_id=f"doc-{number}",
        chunk_id=f"doc-{number}#0",
        title="Hamlin returns",
        source="Sports Desk",
        url="https://news.example/hamlin",
        published="2023-01-05",
        passage=quote,
        passage_start=ARTICLE_START,
        quote=quote,
        quote_start=ARTICLE_START,
        quote_end=ARTICLE_START + len(quote),
        score=0.9,
    )
    base.update(kw)
    return Citation(**base)


def answer_with_short(short: str = "Buffalo Bills", number: int = 1, **kw) -> Answer:
    cites = kw.pop("citations", None) or [citation(1), citation(2, "Second sentence here.")]
    quote = next((c.quote for c in cites if c.number == number), "")
    at = quote.find(short) if short else -1
    start = ARTICLE_START + max(at, 0)
    base = dict(
        question="Damar Hamlin is a valued member of which team?",
        text=f"{QUOTE} [1] Second sentence here. [2]",
        citations=cites,
        short=short,
        short_citation=number if short else 0,
        short_start=start if short else 0,
        short_end=start + len(short) if short else 0,
    )
    base.update(kw)
    return Answer(**base)


# ---- chat Markdown ---------------------------------------------------------------------------


def test_short_answer_comes_first_in_bold_with_its_marker() -> None:
    md = render.answer_with_sources_markdown(answer_with_short())
    first, rest = md.split("\n\n", 1)
    assert first == "**Buffalo Bills** [1]"
    assert rest.startswith(render.answer_markdown(f"{QUOTE} [1] Second sentence here. [2]"))
    assert "**Sources:**" in rest


def test_short_answer_of_the_second_citation_carries_its_number() -> None:
    md = render.answer_with_sources_markdown(answer_with_short("Second sentence", number=2))
    assert md.startswith("**Second sentence** [2]\n\n")


def test_empty_short_leaves_the_message_unchanged() -> None:
    a = answer_with_short("")
    plain = Answer(question=a.question, text=a.text, citations=a.citations)
    md = render.answer_with_sources_markdown(a)
    assert md == render.answer_with_sources_markdown(plain)
    assert md.startswith(render.answer_markdown(a.text))
    assert render.short_markdown(a) == "" and render.short_answer(a) is None
    assert render.short_answer(answer_with_short("   \n ")) is None  # blank counts as empty


def test_abstained_answer_shows_no_short() -> None:
    a = answer_with_short(abstained=True, text="I could not find an answer in the corpus.")
    md = render.answer_with_sources_markdown(a)
    assert "Buffalo Bills**" not in md and md.startswith("I could not find")


def test_marker_only_for_a_listed_citation() -> None:
    a = answer_with_short().model_copy(update={"short_citation": 7})
    assert render.short_markdown(a) == "**Buffalo Bills**"


def test_whitespace_inside_the_short_is_collapsed() -> None:
    quote = "It was the Buffalo\nBills all along."
    a = answer_with_short("Buffalo\nBills", citations=[citation(1, quote)])
    assert render.short_markdown(a) == "**Buffalo Bills** [1]"


@pytest.mark.parametrize(
    "short,expected",
    [
        (SCRIPT, "**&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt;** [1]"),
        (
            "a** [x](javascript:alert(1)) **b",
            "**a\\*\\* \\[x\\]\\(javascript:alert\\(1\\)\\) \\*\\*b** [1]",
        ),
        ('<img src=x onerror="y">', '**&lt;img src=x onerror="y"&gt;** [1]'),
    ],
)
def test_hostile_short_renders_as_text(short: str, expected: str) -> None:
    a = answer_with_short(short, citations=[citation(1, f"Before {short} after.")])
    md = render.answer_with_sources_markdown(a)
    first = md.split("\n\n", 1)[0]
    assert first == expected
    assert "<script" not in md and "<img" not in md and "](" not in first


# ---- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def ask_cli(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]):
    """Run `newsrag ask` in-process with `rag.query` answering `answer`; return stdout."""
    monkeypatch.setenv("NEWSRAG_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("NEWSRAG_CORPUS_DIR", str(tmp_path / "corpus"))
    monkeypatch.setattr(rag.store, "embedded_store_missing", lambda settings: False)

    def run(answer: Answer, *args: str) -> str:
        asked: list[str] = []

        def fake_query(question: Query | str, **_: object) -> Answer:
            asked.append(Query.of(question).question)
            return answer

        monkeypatch.setattr(rag, "query", fake_query)
        assert cli.main(["ask", answer.question, *args]) == cli.EXIT_OK
        assert asked == [answer.question]
        return capsys.readouterr().out

    return run


def test_cli_prints_the_short_answer_first(ask_cli) -> None:
    out = ask_cli(answer_with_short())
    lines = out.splitlines()
    assert lines[0] == "Answer: Buffalo Bills [1]"
    assert lines[1] == f"{QUOTE} [1] Second sentence here. [2]"
    assert "Sources:" in lines
    assert f'    "{QUOTE}"' in lines


def test_cli_without_short_starts_with_the_quotes(ask_cli) -> None:
    out = ask_cli(answer_with_short(""))
    assert out.splitlines()[0] == f"{QUOTE} [1] Second sentence here. [2]"
    assert "Answer:" not in out


def test_cli_json_round_trips_the_short_answer(ask_cli) -> None:
    original = answer_with_short()
    out = ask_cli(original, "--json")
    data = json.loads(out)
    assert data["short"] == "Buffalo Bills" and data["short_citation"] == 1
    back = Answer.model_validate_json(out)
    assert back == original
    assert (back.short, back.short_citation, back.short_start, back.short_end) == (
        "Buffalo Bills",
        1,
        original.short_start,
        original.short_end,
    )
    assert QUOTE[back.short_start - ARTICLE_START : back.short_end - ARTICLE_START] == back.short
