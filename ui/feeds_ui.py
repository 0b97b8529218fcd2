"""The corpus tab's feeds section: add a feed, list the feeds, refresh them with progress.

Everything here calls `ingest.feeds`; a refresh runs in the app's ingest queue, so it never
overlaps an upload or a re-ingest. Feed names, URLs and errors are untrusted text and are
escaped like any other.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from ingest.feeds import (
    FetchSummary,
    RegistryError,
    add_feed,
    check_feed,
    fetch_feeds,
    load_feeds,
    policy_for,
)
from ingest.feeds.registry import load_state, validate_feed_url
from ingest.summary import IngestSummary
from rag.settings import Settings
from rag.store.lease import LeaseHeldError
from ui import render
from ui.errors import user_error

log = logging.getLogger(__name__)

_INGEST_FIELDS = set(IngestSummary.model_fields)


class FeedHandlers:
    """Handlers of the feeds section; `corpus_view` refreshes the table and filters after."""

    def __init__(self, settings: Settings, corpus_view: Callable[[], tuple[Any, ...]]) -> None:
        self.settings = settings
        self.corpus_view = corpus_view

    def feeds_markdown(self) -> str:
        try:
            feeds = load_feeds(self.settings.corpus_dir)
        except RegistryError as exc:
            return render.md_escape(str(exc))
        if not feeds:
            return "No feeds yet: add an RSS or Atom feed URL above."
        state = load_state(self.settings.corpus_dir).feeds
        lines = [f"**{len(feeds)} feed(s):**", ""]
        for feed in feeds:
            st = state.get(feed.url)
            label = render.md_escape(feed.name or (st.title if st else ""))
            line = f"- {label + ' — ' if label else ''}`{_code(feed.url)}`"
            if st and st.checked:
                line += f" · checked {render.md_escape(st.checked)}"
            if st and st.error:
                line += f" · **failed:** {render.md_escape(st.error)}"
            lines.append(line)
        return "\n".join(lines)

    def add(self, url: str, name: str) -> tuple[Any, ...]:
        try:
            url = validate_feed_url(url or "")
            check_feed(url, policy_for(self.settings))  # a 404 or a web page: said now
            feed, changed = add_feed(self.settings.corpus_dir, url, name or "")
        except RegistryError as exc:
            raise user_error(_with_private_hint(str(exc))) from exc
        verb = "Added" if changed else "Already listed:"
        status = f"{verb} feed `{_code(feed.url)}`. Press **Refresh feeds** to fetch it."
        return status, self.feeds_markdown(), "", ""

    def refresh(self, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def report(done: int, total: int, what: str) -> None:
            progress((done, max(total, 1)), desc=what, unit="items")

        progress(0, desc="fetching feeds")
        try:
            summary = fetch_feeds(self.settings, progress=report)
        except (RegistryError, LeaseHeldError) as exc:  # another writer: the CLI's exit-4 line
            raise user_error(str(exc)) from exc
        except Exception as exc:
            log.exception("feed refresh failed")
            raise user_error(f"Refresh failed: {exc or type(exc).__name__}") from exc
        return (fetch_summary_markdown(summary), self.feeds_markdown(), *self.corpus_view())


def fetch_summary_markdown(summary: FetchSummary) -> str:
    """The ingest summary as the re-ingest button shows it, then what the fetching did."""
    ingest_part = IngestSummary.model_validate(summary.model_dump(include=_INGEST_FIELDS))
    text = render.summary_markdown(ingest_part) + (
        f"\n\n**Fetch:** fetched {summary.fetched}, not modified {summary.not_modified}, "
        f"{summary.requests} request(s), {summary.bytes:,} bytes"
    )
    if summary.fetch_failures:
        text += "\n\n**Fetch failures:**\n" + "\n".join(
            f"- `{_code(f.url)}`: {render.md_escape(f.reason)}" for f in summary.fetch_failures
        )
        text = _with_private_hint(text)
    return text


# The fetcher's refusal of a loopback/private host names a command-line flag; the page cannot
# pass one, so it says how the server itself is started to allow them.
PRIVATE_HINT = (
    "This server does not fetch from loopback or private addresses. To allow them (local "
    "tests, an intranet), restart it with `newsrag serve --allow-private-hosts` "
    "(or `NEWSRAG_ALLOW_PRIVATE_HOSTS=true`)."
)


def _with_private_hint(text: str) -> str:
    return f"{text}\n\n{PRIVATE_HINT}" if "--allow-private-hosts" in text else text


def build_feeds_section(
    h: FeedHandlers, status: gr.Markdown, view: list[Any], queue: dict[str, Any]
) -> None:
    """Lay out the section inside the current Blocks context and wire its events.

    `status` and `view` are the corpus tab's status box and table/filter outputs; `queue`
    holds the options of the app's ingest queue (one corpus change at a time)."""
    with gr.Accordion("Feeds (RSS and Atom)", open=True):
        with gr.Row():
            url = gr.Textbox(
                label="Feed URL",
                placeholder="https://example.org/rss.xml",
                scale=4,
                elem_id="feed-url",
            )
            name = gr.Textbox(label="Name (optional)", scale=2, elem_id="feed-name")
        with gr.Row():
            add = gr.Button("Add feed", elem_id="feed-add")
            refresh = gr.Button("Refresh feeds", variant="primary", elem_id="feed-refresh")
        feeds = gr.Markdown(h.feeds_markdown, elem_id="feed-list")
    private: dict[str, Any] = {"api_visibility": "private"}
    add.click(h.add, [url, name], [status, feeds, url, name], **private)
    refresh.click(h.refresh, None, [status, feeds, *view], **queue)


def _code(text: str) -> str:
    # Inside a code span nothing is interpreted but a backtick would end it.
    return html.escape(text.replace("`", "'"), quote=False)
