"""What the chat shows beside an answer, and the layout glitches a new user met, in Chromium
against an in-process app with a scripted backend (no model for the chat): "answered as of",
sources in number order with a readable relevance, one entry per article in a refusal, a Stop
button that is red only while an answer runs, a corpus table whose "chunks" header stays on
one line, and no untranslated "common.complete" after a corpus action.

Screenshots go under the test's tmp dir (`shots/`); look at them when this changes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_support import ask, bot_messages, wait_answer
from support import free_port

from rag.records import Answer, Citation, DocumentInfo

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSAGE = "The bridge will cost 84 million pounds, the council said. Work starts in May."


class _Store:
    def list_documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(
                doc_id=f"web/127.0.0.1-8000/news-harbour-bridge-story-{i}.md",
                sha256="x",
                chunks=3 + i,
                title=f"Harbour bridge story number {i}, with a title long enough to wrap twice",
                source="Harbour Gazette",
                published=f"2024-03-1{i}",
            )
            for i in range(3)
        ]

    def sources(self) -> list[str]:
        return ["Harbour Gazette"]


def _cite(number: int, doc: str, score: float, title: str) -> Citation:
    return Citation(
        number=number,
        doc_id=doc,
        chunk_id=f"{doc}#{number}",
        title=title,
        source="Coastal Herald",
        published="2024-03-14",
        passage=PASSAGE,
        quote=PASSAGE[:58],
        quote_start=0,
        quote_end=58,
        score=score,
    )


class _ScriptedPipeline:
    """Streams slowly (so Stop can be seen red), then an answer whose citations arrive out of
    number order with fused scores, negative ones included; "nitrogen" gets a refusal whose
    closest passages are three of one article and one of another."""

    store = _Store()

    def answer(self, question: str, **_: object) -> Answer:
        raise RuntimeError("not used")

    def stream(self, question: str, **_: object):
        question = getattr(question, "question", question)  # a rag Query since issue 20
        for word in ("The", " bridge", " costs", " …"):
            time.sleep(0.4)
            yield word
        if "nitrogen" in question:
            bridge = [_cite(n, "bridge", 1.0 - n, "Bridge repairs") for n in (1, 2, 4)]
            yield Answer(
                question=question,
                text="I could not find an answer in the corpus.",
                abstained=True,
                citations=[*bridge, _cite(3, "tram", -4.78, "Tram line")],
                asked_as_of="2026-12-06",
            )
            return
        cites = [
            _cite(2, "b", 2.1, "Second"),
            _cite(1, "a", -4.78, "First"),
            _cite(3, "c", 0.3, "Third"),
        ]
        yield Answer(
            question=question,
            text="The bridge will cost 84 million pounds [1]. More [2]. And [3].",
            citations=cites,
            asked_as_of="2024-03-20",
        )


@pytest.fixture
def app(tmp_path: Path):
    from rag.settings import Settings
    from ui.app import build_app, launch_kwargs

    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", store_dir=tmp_path / "store")
    demo = build_app(settings, pipeline=_ScriptedPipeline())
    demo.queue()
    demo.launch(
        prevent_thread_lock=True,
        **(launch_kwargs(settings) | {"server_port": free_port(), "quiet": True}),
    )
    yield demo.local_url
    demo.close()


def _background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def test_answer_sources_refusal_and_stop_button(app: str, browser, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(app)
    page.wait_for_selector("#question textarea")
    grey = _background(page, "#clear")
    assert _background(page, "#stop") == grey  # not red while nothing runs

    before = bot_messages(page).count()
    page.fill("#question textarea", "How much will the bridge cost?")
    page.press("#question textarea", "Enter")
    bot_messages(page).filter(has_text="bridge").first.wait_for()
    assert _background(page, "#stop") != grey  # red while the answer streams

    text = wait_answer(page, before)
    page.wait_for_function(
        "(grey) => getComputedStyle(document.querySelector('#stop')).backgroundColor === grey",
        arg=grey,
    )
    page.screenshot(path=str(shots / "answer.png"))
    assert "answered as of 2024-03-20" in text
    cards = page.locator("#sources .src-card")
    assert [cards.nth(i).get_attribute("data-numbers") for i in range(3)] == ["1", "2", "3"]
    panel = page.locator("#sources").inner_text()
    assert "score" not in panel and "-4.78" not in panel
    assert "most relevant" in cards.nth(1).inner_text()  # [2] scored best
    assert "relevance 3 of 3" in cards.nth(0).inner_text()  # [1] scored -4.78
    assert text.index("[1] First") < text.index("[2] Second") < text.index("[3] Third")

    refusal = ask(page, "What is the boiling point of liquid nitrogen?")
    page.screenshot(path=str(shots / "refusal.png"))
    assert refusal.count("Bridge repairs") == 1 and refusal.count("Tram line") == 1
    assert page.locator("#sources .src-card").count() == 2
    assert page.locator("#sources").inner_text().count("Bridge repairs") == 1


def test_corpus_table_header_and_no_untranslated_status(app: str, browser, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    # Narrow, as on a laptop with the window split: where "chunks" used to wrap to "chu/nks".
    page = browser.new_context(viewport={"width": 760, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(app)
    page.wait_for_selector("#question textarea")
    page.get_by_role("tab", name="Corpus").click()
    header = page.locator('#documents th[title="chunks"] .header')
    header.wait_for()
    assert header.inner_text().strip() == "chunks"
    lines, overflow = header.evaluate(
        """e => { const r = document.createRange(); r.selectNodeContents(e);
                  return [r.getClientRects().length, e.scrollWidth - e.clientWidth]; }"""
    )
    assert lines == 1 and overflow <= 1  # one line, not cut off either
    page.screenshot(path=str(shots / "corpus.png"), full_page=True)

    # Record any text Gradio's status announcer writes while a corpus action runs and ends.
    page.evaluate(
        """() => { window.__keys = [];
        new MutationObserver(() => {
            const m = document.body.innerText.match(/common\\.\\w+/);
            if (m) window.__keys.push(m[0]);
        }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
    )
    page.click("#reingest")
    page.locator("#corpus-status").filter(has_text="failed 0").wait_for()
    page.wait_for_timeout(1500)  # the announcer writes after the event completes
    page.screenshot(path=str(shots / "after-reingest.png"), full_page=True)
    assert page.evaluate("window.__keys") == []


def test_a_refused_request_prints_no_traceback_on_the_server(
    app: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="The question is empty"):
        Client(app, verbose=False).predict("  ", api_name="/ask")
    time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[-2000:]
