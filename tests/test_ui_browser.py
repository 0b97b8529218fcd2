"""The web UI end to end: the real app (`python -m ui`), the real model and Chroma, in Chromium.

Debian's chromium is driven by Playwright (`playwright install` cannot download browsers here).
The app runs in a subprocess on a free loopback port over a small corpus in a temp folder, so
the test exercises the same entry point as users. Set NEWSRAG_SCREENSHOT=docs/screenshot.png to
refresh the README screenshot from the chat test.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from newsdata import write_corpus
from support import require, stop_process, wait_for_http

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STARTUP_SECONDS = 300
ANSWER_MS = 90_000

EVIL = {
    "title": 'Record pumpkin <img src=x onerror="window.__pwned=2"> weighs in',
    "source": "Garden <b>Times</b>",
    "url": "javascript:window.__pwned=3",
    "published_at": "2025-09-01",
    "text": (
        "Gardeners in Kent grew a record pumpkin weighing 900 kilograms this autumn. "
        "The grower wrote <script>window.__pwned=1</script> on its label and drew "
        '<img src=x onerror="window.__pwned=2"> beside it.'
    ),
}

UPLOADED = """---
title: Glacier retreat uncovers Bronze Age trail in the Alps
source: Mountain Post
published: 2025-08-19
url: https://example.org/mountain/glacier-trail
---

Melting ice on the Tarnholm glacier has uncovered a Bronze Age trail with leather sandals and
wooden arrows, archaeologists said on Monday.

The finds were dated to around 1600 BC. Researcher Ilse Brandt said the trail had been used to
drive cattle over the pass for at least four centuries.
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    corpus: Path
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui-browser")
    corpus = root / "corpus"
    write_corpus(corpus)
    (corpus / "pumpkin.json").write_text(json.dumps(EVIL), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "NEWSRAG_CORPUS_DIR": str(corpus),
        "NEWSRAG_STORE_DIR": str(root / "store"),
        "NEWSRAG_HOST": "127.0.0.1",
        "NEWSRAG_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
    }
    env.pop("NEWSRAG_AUTH", None)
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    srv = Server(f"http://127.0.0.1:{port}/", corpus, log)
    try:
        wait_for_http(srv.url, proc, STARTUP_SECONDS, srv.log_tail)
        yield srv
    finally:
        stop_process(proc, 30)


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists(), "Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server: Server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(server.url)
    pg.wait_for_selector("#question textarea")
    yield pg
    context.close()


def _ingest(server: Server) -> str:
    from gradio_client import Client

    return Client(server.url, verbose=False).predict(api_name="/ingest")


@pytest.fixture(scope="module")
def ingested(server: Server) -> Server:
    """The corpus ingested (through the API) before the page loads, for tests that need it."""
    summary = _ingest(server)
    assert summary.endswith("failed 0"), summary
    return server


def _bot_messages(page):
    return page.locator('#chat [data-testid="bot"]')


def ask(page, question: str) -> str:
    """Type a question, wait for the streamed answer to finish; return the answer's text."""
    before = _bot_messages(page).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return wait_answer(page, before)


def wait_answer(page, before: int) -> str:
    """Wait until answer number before+1 is complete (no cursor, sources panel settled)."""
    page.wait_for_function(
        """(n) => {
            const bots = document.querySelectorAll('#chat [data-testid="bot"]');
            const panel = document.querySelector('#sources');
            if (bots.length <= n || !panel) return false;
            const text = bots[bots.length - 1].innerText;
            return !text.includes('▌') && text.trim() !== '…'
                && !panel.innerText.includes('Searching the corpus');
        }""",
        arg=before,
        timeout=ANSWER_MS,
    )
    return _bot_messages(page).last.inner_text()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_ingest_then_answer_cites_and_highlights(page, server: Server, tmp_path: Path) -> None:
    open_tab(page, "Corpus")
    page.click("#reingest")
    status = page.locator("#corpus-status")
    status.filter(has_text=re.compile(r"failed 0")).wait_for()
    assert re.search(
        r"added \d+, updated \d+, removed \d+, unchanged \d+, failed 0", status.inner_text()
    )
    table = page.locator("#documents")
    table.filter(has_text="Council approves new harbour bridge").wait_for()

    open_tab(page, "Chat")
    example = page.locator("#chat button").filter(has_text="What happened:").first
    example.wait_for()  # example questions drawn from the corpus, on the empty chat
    example.click()
    assert "[1]" in wait_answer(page, 0)
    page.click("#clear")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0"
    )

    answer = ask(page, "How much will the new harbour bridge in Port Ellery cost?")
    assert "[1]" in answer
    assert "84 million" in answer
    first = page.locator("#sources .src-card").first
    assert (first.get_attribute("data-numbers") or "").startswith("1")
    assert (
        "Council approves new harbour bridge for Port Ellery"
        in first.locator(".src-title").inner_text()
    )
    assert "Coastal Herald" in first.inner_text() and "2024-03-14" in first.inner_text()
    link = first.locator("a.src-title")
    assert link.get_attribute("href") == "https://example.org/coastal/harbour-bridge"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
    marks = page.locator("#sources mark")
    assert marks.count() >= 1
    assert "84 million" in " ".join(marks.all_inner_texts())

    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot))
    if os.environ.get("NEWSRAG_SCREENSHOT"):
        page.screenshot(path=os.environ["NEWSRAG_SCREENSHOT"])
    assert shot.stat().st_size > 10_000

    follow = ask(page, "When is it expected to open?")
    assert _bot_messages(page).count() == 2
    assert "2027" in follow

    page.click("#clear")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0"
    )
    assert "appear here" in page.locator("#sources").inner_text()


def test_upload_ingest_and_ask_about_it(
    ingested: Server, page, server: Server, tmp_path: Path
) -> None:
    upload = tmp_path / "glacier-trail.md"
    upload.write_text(UPLOADED, encoding="utf-8")
    open_tab(page, "Corpus")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.locator("#upload").filter(has_text="glacier-trail.md").wait_for()
    page.click("#upload-btn")
    status = page.locator("#corpus-status")
    status.filter(has_text="saved").wait_for(timeout=ANSWER_MS)
    assert re.search(r"added 1, .*failed 0", status.inner_text())
    assert (server.corpus / "glacier-trail.md").read_text(encoding="utf-8") == UPLOADED
    page.locator("#documents").filter(has_text="Glacier retreat uncovers").wait_for()

    open_tab(page, "Chat")
    answer = ask(page, "What did the melting Tarnholm glacier uncover?")
    assert "[1]" in answer
    titles = page.locator("#sources .src-title").all_inner_texts()
    assert "Glacier retreat uncovers Bronze Age trail in the Alps" in titles[0]


def test_untrusted_article_shows_as_text(ingested: Server, page, server: Server) -> None:
    # Its title is the newest, so it is an example question on the empty chat: as text too.
    page.locator("#chat button").filter(has_text="Record pumpkin <img src=x").wait_for()
    answer = ask(page, "How heavy was the record pumpkin grown in Kent?")
    assert "900 kilograms" in answer
    panel = page.locator("#sources").inner_text()
    assert "<script>window.__pwned=1</script>" in panel
    assert '<img src=x onerror="window.__pwned=2">' in panel
    assert "Garden <b>Times</b>" in panel
    assert page.locator("#sources a").count() == 0  # the javascript: url is not a link
    assert page.locator("#chat img, #sources img, #chat script, #sources script").count() == 0
    assert "<img src=x" in _bot_messages(page).last.inner_text()  # title in the chat, as text

    open_tab(page, "Corpus")
    page.locator("#documents").filter(has_text="Record pumpkin <img").wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_delete_an_article_from_the_table(ingested: Server, page, server: Server) -> None:
    title = "Stolen medieval manuscript recovered in Brussels"
    open_tab(page, "Corpus")
    table = page.locator("#documents")
    table.get_by_text(title).click()  # picks its doc_id for deletion
    expect(page.locator("#delete-pick input")).to_have_value(re.compile("museum-theft.md"))
    page.click("#delete-btn")
    page.locator("#corpus-status").filter(has_text=f"deleted {title}").wait_for()
    page.locator("#documents").filter(has_not_text=title).wait_for()
    assert not (server.corpus / "museum-theft.md").exists()


def test_unanswerable_question_shows_closest_passages(ingested: Server, page) -> None:
    answer = ask(page, "What is the boiling point of liquid nitrogen?")
    assert "could not find" in answer.lower()
    assert "Closest passages" in page.locator("#sources .src-label").inner_text()
    assert page.locator("#sources .src-card").count() >= 1


def test_bad_date_filter_gives_a_clear_message(page) -> None:
    page.get_by_text("Filters (apply to the next question)").click()
    page.fill("#since input, #since textarea", "2024-13-01")
    answer = ask(page, "What did the council approve?")
    assert "is not a date" in answer and "YYYY-MM-DD" in answer


def test_as_of_field_hides_later_articles_and_rejects_bad_dates(ingested: Server, page) -> None:
    page.get_by_text("Filters (apply to the next question)").click()
    page.fill("#as-of input, #as-of textarea", "2024-02-30")
    answer = ask(page, "How much will the harbour bridge cost?")
    assert "'as of' date" in answer and "YYYY-MM-DD" in answer
    # the bridge article was published on 2024-03-14: as of March 1st it is not there yet
    page.fill("#as-of input, #as-of textarea", "2024-03-01")
    answer = ask(page, "How much will the harbour bridge cost?")
    assert "84 million" not in answer
    assert "Council approves new harbour bridge" not in page.locator("#sources").inner_text()
    page.fill("#as-of input, #as-of textarea", "")  # empty: now
    assert "84 million" in ask(page, "How much will the harbour bridge cost?")


def test_gradio_client_ask_and_ingest(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    summary = client.predict(api_name="/ingest")
    assert re.match(r"added \d+, updated \d+, removed \d+, unchanged \d+, failed 0", summary)
    text = client.predict("Who won the national chess championship?", api_name="/ask")
    assert "[1]" in text and "Lena Varga" in text
    assert "**Sources:**" in text
    link = "[Teenager wins national chess championship](https://example.org/coastal/chess)"
    assert re.search(r"^- \[1\]( \[\d+\])* " + re.escape(link), text, re.M), text


def test_questions_are_answered_while_an_ingest_runs(ingested: Server) -> None:
    from gradio_client import Client

    for i in range(12):
        (ingested.corpus / f"filler-{i}.md").write_text(
            f"---\ntitle: Parish newsletter number {i}\npublished: 2001-01-{i + 1:02d}\n---\n\n"
            + f"The parish fete number {i} raised money for the church roof. " * 40,
            encoding="utf-8",
        )
    client = Client(ingested.url, verbose=False)
    job = client.submit(api_name="/ingest")
    answers = []
    while not job.done() or not answers:
        answers.append(client.predict("Who won the national chess championship?", api_name="/ask"))
    assert re.match(r"added 12, .*failed 0", job.result())
    assert all("Lena Varga" in a and "[1]" in a for a in answers), answers


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
        raise RuntimeError("the store went away")
        yield  # pragma: no cover


class _SlowPipeline(_BrokenPipeline):
    """Streams a long answer slowly, so Stop has something to cut."""

    def stream(self, question: str, **_: object):
        from rag.models import Answer

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
        kwargs = launch_kwargs(settings) | {"server_port": _free_port(), "quiet": True}
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
    bot = _bot_messages(page)
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
        from rag.models import Answer, Citation

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
    from rag.answer import ExtractiveAnswerer
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
    bot = _bot_messages(page).last
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
    bot = _bot_messages(page).last
    # one bold run for the short answer (its `**` stay text), then the "Sources:" label
    assert bot.locator("strong").all_inner_texts() == [_HostileShortPipeline.SHORT, "Sources:"]
    assert page.locator("#chat img, #chat script, #chat a[href^=javascript]").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.context.close()


def test_login_is_required_when_auth_is_set(fake_app) -> None:
    from gradio_client import Client

    url = fake_app(auth="ann:s3cret")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "config", timeout=10)
    assert refused.value.code == 401
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        Client(url, verbose=False)
    client = Client(url, auth=("ann", "s3cret"), verbose=False)
    with pytest.raises(Exception, match="the store went away"):
        client.predict("q", api_name="/ask")


def test_default_launch_is_local_and_private(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import Settings
    from ui.app import launch_kwargs

    for name in ("NEWSRAG_HOST", "NEWSRAG_PORT", "NEWSRAG_AUTH"):
        monkeypatch.delenv(name, raising=False)

    kwargs = launch_kwargs(Settings())
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["server_port"] == 7860
    assert kwargs["share"] is False and kwargs["auth"] is None
