"""Helpers shared by the Chromium tests (test_ui_browser*.py, test_ui_layout_browser.py,
test_feeds_browser.py): where Debian's chromium is and how it is started, a UI server started
as a subprocess, and asking a question in the chat. The `browser` fixture is in conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Server:
    """The web UI running in a subprocess: its address, corpus folder and log file."""

    url: str
    corpus: Path
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def chat_page(browser, url: str) -> Iterator:  # noqa: ANN001
    """A page of the chat at `url`, loaded until the question box shows, in its own context."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    try:
        yield pg
    finally:
        context.close()


def bot_messages(page):  # noqa: ANN001, ANN201
    return page.locator('#chat [data-testid="bot"]')


def ask(page, question: str) -> str:  # noqa: ANN001
    """Type a question, wait for the streamed answer to finish; return the answer's text."""
    before = bot_messages(page).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return wait_answer(page, before)


def wait_answer(page, before: int) -> str:  # noqa: ANN001
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
    return bot_messages(page).last.inner_text()
