"""The Gradio Blocks app: a streaming chat with its sources, and a corpus tab.

This module only lays out components and wires them to `ui.handlers`, which call `rag` and
`ingest`: retrieval, answering and the store live there, rendering lives in `ui.render`, upload
checks in `ui.uploads`. Each browser session keeps its own `ChatSession` (follow-ups are
condensed against that session's history) in a gr.State.
"""

import logging
from typing import Any

import gradio as gr

from rag import get_pipeline
from rag.settings import Settings
from rag.store import StoreError, StoreMismatchError
from ui import render
from ui.auth import auth_checker, load_credentials
from ui.feeds_ui import FeedHandlers, build_feeds_section
from ui.handlers import Handlers
from ui.uploads import ALLOWED_EXTENSIONS

log = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"  # one ingest, upload or delete at a time, whatever triggered it

# Theme variables, so the panel follows Gradio's light and dark modes.
SOURCES_CSS = """
.sources { font-size: 0.92rem; line-height: 1.45; color: var(--body-text-color); }
.src-label { font-weight: 600; margin: 0 0 0.5rem 0; }
.src-abstained { color: var(--color-accent); }
.src-empty { color: var(--body-text-color-subdued); padding: 0.5rem 0; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6rem 0.75rem; margin-bottom: 0.6rem; background: var(--block-background-fill); }
.src-head { font-weight: 600; }
.src-num { color: var(--link-text-color); margin-right: 0.25rem; }
a.src-title { color: var(--link-text-color); text-decoration: underline; }
.src-meta { color: var(--body-text-color-subdued); font-size: 0.82rem; margin: 0.15rem 0 0.4rem; }
.src-flag { color: var(--error-text-color); }
.src-passage { white-space: pre-wrap; }
.src-passage mark { background: #fde68a; color: #111827; padding: 0 1px; border-radius: 2px; }
.src-n { color: var(--body-text-color-subdued); margin-left: 1px; }
.src-rel { white-space: nowrap; }
.src-bar { display: inline-block; width: 3rem; height: 0.45rem; margin-right: 0.3rem;
  border-radius: 3px; background: var(--border-color-primary); vertical-align: middle; }
.src-bar > span { display: block; height: 100%; border-radius: 3px;
  background: var(--color-accent); }
"""

APP_CSS = """
#sources-panel { max-height: 640px; overflow-y: auto; }
#documents th .header { white-space: nowrap !important; word-break: normal !important;
  overflow-wrap: normal !important; }
"""

# Gradio 6's status announcer says `common.complete` (a key its English messages lack) after
# every event; it flashed on the page after a refresh. Our words for its keys.
STATUS_WORDS = {"common.complete": "Done", "common.error": "Error", "common.loading": "Loading"}


def build_app(settings: Settings, pipeline: Any | None = None) -> gr.Blocks:
    """The whole UI. `pipeline` defaults to the process's cached `get_pipeline(settings)`.

    A store built with other settings stops the start (its message says how to rebuild); with
    no store yet the app serves anyway, so articles can be uploaded and ingested from the page.
    """
    if pipeline is None:
        try:
            pipeline = get_pipeline(settings)
        except StoreMismatchError:
            raise
        except StoreError as exc:
            log.warning("serving without a store for now: %s", exc)
    h = Handlers(settings, pipeline)
    private: dict[str, Any] = {"api_visibility": "private"}
    small: dict[str, Any] = {"scale": 0, "min_width": 90}

    with gr.Blocks(title="newsrag", analytics_enabled=False) as demo:
        gr.Markdown("## newsrag · ask the news, check the sources")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            elem_id="chat",
                            height=560,
                            sanitize_html=True,
                            allow_tags=False,
                            feedback_options=None,
                            buttons=["copy"],
                            placeholder="Ask a question about the articles in the corpus.",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask about the news…",
                                show_label=False,
                                container=False,
                                scale=8,
                                elem_id="question",
                                max_lines=4,
                            )
                            ask = gr.Button("Ask", variant="primary", **small, elem_id="ask")
                            # Red only while an answer runs (see `busy` below).
                            stop = gr.Button("Stop", variant="secondary", **small, elem_id="stop")
                            clear = gr.Button("Clear", **small, elem_id="clear")
                        with gr.Accordion("Filters (apply to the next question)", open=False):
                            with gr.Row():
                                source_filter = gr.Dropdown(
                                    label="Sources",
                                    choices=[],
                                    multiselect=True,
                                    scale=2,
                                    elem_id="filter-sources",
                                )
                                since = gr.Textbox(
                                    label="Since", placeholder="YYYY-MM-DD", elem_id="since"
                                )
                                until = gr.Textbox(
                                    label="Until", placeholder="YYYY-MM-DD", elem_id="until"
                                )
                                as_of = gr.Textbox(
                                    label="As of",
                                    placeholder="YYYY-MM-DD (empty: now)",
                                    info="answer as if on this date: later articles are hidden",
                                    elem_id="as-of",
                                )
                                top_k = gr.Slider(
                                    1,
                                    20,
                                    value=min(settings.top_k, 20),
                                    step=1,
                                    label="Passages",
                                    elem_id="top-k",
                                )
                    with gr.Column(scale=2, elem_id="sources-panel"):
                        sources_panel = gr.HTML(
                            render.sources_html(None),
                            css_template=SOURCES_CSS,
                            js_on_load=None,
                            elem_id="sources",
                        )
            with gr.Tab("Corpus", id="corpus"):
                with gr.Row():
                    with gr.Column(scale=2):
                        files = gr.File(
                            label="Upload articles",
                            file_count="multiple",
                            file_types=sorted(ALLOWED_EXTENSIONS),
                            type="filepath",
                            elem_id="upload",
                        )
                        upload = gr.Button(
                            "Save and ingest", variant="primary", elem_id="upload-btn"
                        )
                    with gr.Column(scale=3):
                        reingest = gr.Button("Re-ingest the corpus folder", elem_id="reingest")
                        status = gr.Markdown(elem_id="corpus-status")
                count = gr.Markdown(elem_id="doc-count")
                table = gr.Dataframe(
                    headers=render.DOCUMENT_COLUMNS,
                    interactive=False,
                    wrap=True,
                    column_widths=["34%", "16%", "112px", "84px", "30%"],
                    elem_id="documents",
                )
                with gr.Row():
                    doc_pick = gr.Dropdown(
                        label="Article to delete (or click its row)",
                        choices=[],
                        scale=4,
                        elem_id="delete-pick",
                    )
                    delete = gr.Button(
                        "Delete article", variant="stop", scale=1, elem_id="delete-btn"
                    )
                build_feeds_section(
                    FeedHandlers(settings, h.corpus_view),
                    status,
                    [table, doc_pick, source_filter, chatbot, count],
                    {**private, "concurrency_limit": 1, "concurrency_id": INGEST_QUEUE},
                )
        session = gr.State(None)

        view = [table, doc_pick, source_filter, chatbot, count]
        chat_inputs = [question, chatbot, session, source_filter, since, until, top_k, as_of]
        chat_outputs = [chatbot, question, sources_panel, session]
        # Stop and Clear run beside a streaming answer, never queued behind it.
        now: dict[str, Any] = {**private, "concurrency_limit": None}
        quiet: dict[str, Any] = {**now, "show_progress": "hidden"}

        def answering(event: Any) -> None:
            # Stop turns red for the time an answer runs, then back to grey.
            event.then(h.respond, chat_inputs, chat_outputs, **private).then(
                _stop_idle, None, stop, **quiet
            )

        answering(question.submit(_stop_busy, None, stop, **quiet))
        answering(ask.click(_stop_busy, None, stop, **quiet))
        answering(
            chatbot.example_select(h.pick_example, None, question, **private).then(
                _stop_busy, None, stop, **quiet
            )
        )
        stop.click(h.stop, session, None, **now)
        cleared = [chatbot, sources_panel, session, question]
        clear.click(h.clear, session, cleared, **now)
        chatbot.clear(h.clear, session, cleared, **now)  # its trash icon

        ingest_opts: dict[str, Any] = {
            **private,
            "concurrency_limit": 1,
            "concurrency_id": INGEST_QUEUE,
        }
        upload.click(h.upload, files, [status, files, *view], **ingest_opts)
        reingest.click(h.reingest, None, [status, *view], **ingest_opts)
        delete.click(h.delete, doc_pick, [status, *view], **ingest_opts)
        table.select(h.pick_row, None, doc_pick, **private)
        demo.load(h.corpus_view, None, view, **private)

        gr.api(h.api_ask, api_name="ask")
        gr.api(h.api_ingest, api_name="ingest", concurrency_limit=1, concurrency_id=INGEST_QUEUE)
    return demo


def _stop_busy() -> Any:
    return gr.update(variant="stop")


def _stop_idle() -> Any:
    return gr.update(variant="secondary")


def launch_kwargs(settings: Settings, share: bool = False) -> dict[str, Any]:
    """Arguments for `Blocks.launch` from the settings (also used by tests on another port)."""
    creds = load_credentials(settings.auth)
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": share,
        "auth": auth_checker(creds) if creds else None,
        "auth_message": "newsrag: sign in" if creds else None,
        "max_file_size": settings.max_upload_bytes,
        "css": APP_CSS,
        "show_error": False,
        "ssr_mode": False,
        "i18n": gr.I18n(en=STATUS_WORDS),
    }


def launch(settings: Settings, share: bool = False, **overrides: Any) -> Any:
    """Build the app, queue requests at settings.concurrency and serve it (blocking by default)."""
    kwargs = launch_kwargs(settings, share=share) | overrides
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    log.info(
        "serving newsrag on http://%s:%s (login %s, share %s)",
        settings.host,
        settings.port,
        "on" if kwargs["auth"] else "off",
        share,
    )
    return demo.launch(**kwargs)
