"""The web UI in Chromium against an in-process app with a fake backend: failures, Stop and
Clear, the short answer, the sources panel and the layout, and login. Split from
test_ui_browser.py (which runs the real app as users start it); the browser fixture is in
conftest.py."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_support import ask, bot_messages
from newsdata import write_corpus
from support import free_port

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# ---- in-process app with a fake backend: failures and login, no model needed ----------------


class _FakeStore:
    def list_documents(self) -> list:
        return []

    def sources(self) -> list[str]:
        return []


class _BrokenPipeline:
    """Fails every question, as a crashed backend would."""

    store = _FakeStore()

    def answer(self, question: str, **_: object):
        raise RuntimeError("the store went away")

    def stream(self, question: str, **_: object):
        question = getattr(question, "question", question)  # a rag Query since issue 20
        raise RuntimeError("the store went away")
        yield  # pragma: no cover


class _SlowPipeline(_BrokenPipeline):
    """Streams a long answer slowly, so Stop has something to cut."""

    def stream(self, question: str, **_: object):
        question = getattr(question, "question", question)  # a rag Query since issue 20
        from rag.records import Answer

        for i in range(60):
            time.sleep(0.25)
            yield f" word{i}"
        yield Answer(question=question, text="all sixty words")


@pytest.fixture
def fake_app(tmp_path: Path):
    from rag.settings import Settings
    from ui.app import build_app, launch_kwargs

    def start(auth: str | None = None, pipeline: object | None = None) -> str:
        settings = Settings(corpus_dir=tmp_path / "corpus", store_dir=tmp_path / "store", auth=auth)
        demo = build_app(settings, pipeline=pipeline or _BrokenPipeline())
        demo.queue(default_concurrency_limit=settings.concurrency)
        kwargs = launch_kwargs(settings) | {"server_port": free_port(), "quiet": True}
        demo.launch(prevent_thread_lock=True, **kwargs)
        started.append(demo)
        return demo.local_url

    started: list = []
    yield start
    for demo in started:
        demo.close()


def test_backend_error_is_a_chat_message_not_a_dead_page(fake_app, browser) -> None:
    url = fake_app()
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    answer = ask(page, "anything?")
    assert "Could not answer: the store went away" in answer
    answer = ask(page, "and again?")  # the page still works
    assert "Could not answer" in answer
    context.close()


def test_stop_and_clear_cut_a_streaming_answer(fake_app, browser) -> None:
    url = fake_app(pipeline=_SlowPipeline())
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.fill("#question textarea", "a long one please")
    page.press("#question textarea", "Enter")
    bot = bot_messages(page)
    bot.filter(has_text="word3").wait_for(timeout=30_000)
    page.click("#stop")
    bot.filter(has_text="(stopped)").wait_for(timeout=10_000)
    text = bot.last.inner_text()
    page.wait_for_timeout(1500)
    assert bot.last.inner_text() == text
    assert "word59" not in text and "▌" not in text

    page.fill("#question textarea", "another long one")  # Clear while streaming
    page.press("#question textarea", "Enter")
    bot.filter(has_text="word2").wait_for(timeout=30_000)
    page.click("#clear")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0"
    )
    page.wait_for_timeout(1500)  # nothing streams back in
    assert bot.count() == 0
    context.close()


# ---- the short answer first (Answer.short) --------------------------------------------------


class _ShortAnswerer:
    """The real extractive answerer, with `short` set deterministically: the first match of
    `pattern` in the quotes of its citations, with that citation's number and article offsets.
    (The extractor that fills `short` is not on this branch; this stands in for it.)"""

    def __init__(self, inner: object, pattern: str) -> None:
        self.inner = inner
        self.pattern = re.compile(pattern)

    def answer(self, question: str, retrieval: object):
        answer = self.inner.answer(question, retrieval)  # type: ignore[attr-defined]
        for c in [] if answer.abstained else answer.citations:
            if m := self.pattern.search(c.quote):
                answer.short, answer.short_citation = m.group(0), c.number
                answer.short_start = c.quote_start + m.start()
                answer.short_end = c.quote_start + m.end()
                break
        return answer


class _HostileShortPipeline(_BrokenPipeline):
    """Streams a few deltas, then an Answer whose short answer is hostile markup."""

    SHORT = '<img src=x onerror="window.__pwned=4"> **not bold** [x](javascript:alert(1))'

    def stream(self, question: str, **_: object):
        question = getattr(question, "question", question)  # a rag Query since issue 20
        from rag.records import Answer, Citation

        quote = f"The label read {self.SHORT} in red."
        yield "The label"
        yield " read it [1]"
        cite = Citation(
            number=1, doc_id="d", chunk_id="d#0", title="Label", passage=quote, quote=quote
        )
        at = quote.index(self.SHORT)
        yield Answer(
            question=question,
            text=f"{quote} [1]",
            citations=[cite],
            short=self.SHORT,
            short_citation=1,
            short_start=at,
            short_end=at + len(self.SHORT),
        )


@pytest.fixture(scope="module")
def short_pipeline(tmp_path_factory: pytest.TempPathFactory, real_embedder):  # noqa: ANN001
    """The real pipeline over the test corpus, its answerer wrapped to set `short`."""
    from ingest import Ingestor
    from rag.extractive import ExtractiveAnswerer
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    root = tmp_path_factory.mktemp("short")
    settings = Settings(corpus_dir=root / "corpus", store_dir=root / "store", collection="short")
    write_corpus(settings.corpus_dir)
    Ingestor(settings, embedder=real_embedder).run()
    answerer = _ShortAnswerer(ExtractiveAnswerer(settings), r"\d+ million pounds")
    return Pipeline(settings, embedder=real_embedder, answerer=answerer)


def test_chat_shows_the_short_answer_first_in_bold(fake_app, browser, short_pipeline) -> None:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(fake_app(pipeline=short_pipeline))
    page.wait_for_selector("#question textarea")
    text = ask(page, "How much will the new harbour bridge in Port Ellery cost?")
    bot = bot_messages(page).last
    strong = bot.locator("strong").first
    assert strong.inner_text() == "84 million pounds"
    first = bot.locator("p").first  # the short answer is the message's first paragraph
    assert first.locator("strong").inner_text() == "84 million pounds"
    number = re.fullmatch(r"84 million pounds \[(\d+)\]", first.inner_text().strip())
    assert number, first.inner_text()
    # before the first supporting quote, which holds it too
    quote_at = text.index("The bridge will cost an estimated 84 million pounds")
    assert text.index("84 million pounds [") < quote_at
    card = page.locator(f'#sources .src-card[data-numbers~="{number.group(1)}"]')
    assert "84 million pounds" in " ".join(card.locator("mark").all_inner_texts())
    page.context.close()


def test_hostile_short_answer_shows_as_text(fake_app, browser) -> None:
    page = browser.new_context().new_page()
    page.goto(fake_app(pipeline=_HostileShortPipeline()))
    page.wait_for_selector("#question textarea")
    ask(page, "what did the label say?")
    bot = bot_messages(page).last
    # one bold run for the short answer (its `**` stay text), then the "Sources:" label
    assert bot.locator("strong").all_inner_texts() == [_HostileShortPipeline.SHORT, "Sources:"]
    assert page.locator("#chat img, #chat script, #chat a[href^=javascript]").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.context.close()


def test_login_is_required_when_auth_is_set(fake_app) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError, AuthenticationError

    url = fake_app(auth="ann:s3cret")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "config", timeout=10)
    assert refused.value.code == 401
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(url, verbose=False)
    client = Client(url, auth=("ann", "s3cret"), verbose=False)
    with pytest.raises(AppError, match="the store went away"):
        client.predict("q", api_name="/ask")


def test_default_launch_is_local_and_private(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import Settings
    from ui.app import launch_kwargs

    for name in ("NEWSRAG_HOST", "NEWSRAG_PORT", "NEWSRAG_AUTH"):
        monkeypatch.delenv(name, raising=False)

    kwargs = launch_kwargs(Settings())
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["server_port"] == 7860
    assert kwargs["share"] is False and kwargs["auth"] is None
