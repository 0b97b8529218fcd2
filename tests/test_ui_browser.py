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
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    ANSWER_MS,
    STARTUP_SECONDS,
    Server,
    ask,
    bot_messages,
    chat_page,
    wait_answer,
)
from newsdata import write_corpus
from support import free_port, stop_process, wait_for_http

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui-browser")
    corpus = root / "corpus"
    write_corpus(corpus)
    (corpus / "pumpkin.json").write_text(json.dumps(EVIL), encoding="utf-8")
    port = free_port()
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


@pytest.fixture
def page(browser, server: Server):
    with chat_page(browser, server.url) as pg:
        yield pg


def _ingest(server: Server) -> str:
    from gradio_client import Client

    return Client(server.url, verbose=False).predict(api_name="/ingest")


@pytest.fixture(scope="module")
def ingested(server: Server) -> Server:
    """The corpus ingested (through the API) before the page loads, for tests that need it."""
    summary = _ingest(server)
    assert summary.endswith("failed 0"), summary
    return server


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
    assert bot_messages(page).count() == 2
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
    assert "<img src=x" in bot_messages(page).last.inner_text()  # title in the chat, as text

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
