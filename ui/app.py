"""The Gradio Blocks app: a streaming chat with its sources, and a corpus tab.

This module only wires components to `rag` and `ingest`: retrieval, answering and the store live
there, rendering lives in `ui.render`, upload checks in `ui.uploads`. Each browser session keeps
its own `ChatSession` (follow-ups are condensed against that session's history) in a gr.State.
Handlers never hold locks; the backend keeps the store consistent while an ingest runs.
"""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from ingest import delete_document, ingest_corpus
from ingest.summary import IngestSummary
from rag import ChatSession, get_pipeline
from rag.examples import example_questions
from rag.models import Answer
from rag.settings import Settings
from rag.store import StoreError, StoreMismatchError
from ui import render
from ui.auth import auth_checker, load_credentials
from ui.filters import build_filters
from ui.uploads import ALLOWED_EXTENSIONS, save_uploads

log = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"  # one ingest, upload or delete at a time, whatever triggered it

SOURCES_CSS = """
.sources { font-size: 0.92rem; line-height: 1.45; }
.src-label { font-weight: 600; margin: 0 0 0.5rem 0; }
.src-abstained { color: #b45309; }
.src-empty { color: #6b7280; padding: 0.5rem 0; }
.src-card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 0.6rem 0.75rem;
  margin-bottom: 0.6rem; background: #fff; }
.src-head { font-weight: 600; }
.src-num { color: #2563eb; margin-right: 0.25rem; }
.src-title { color: inherit; }
a.src-title { color: #1d4ed8; text-decoration: underline; }
.src-meta { color: #6b7280; font-size: 0.82rem; margin: 0.15rem 0 0.4rem 0; }
.src-flag { color: #b91c1c; }
.src-passage { white-space: pre-wrap; color: #1f2937; }
.src-passage mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
"""

APP_CSS = """
#sources-panel { max-height: 640px; overflow-y: auto; }
footer { display: none !important; }
"""


class _Handlers:
    """Event handlers bound to one settings object and one pipeline."""

    def __init__(self, settings: Settings, pipeline: Any | None) -> None:
        self.settings = settings
        self._pipeline = pipeline

    def pipeline(self) -> Any:
        """The pipeline, opened on first need: the app may start before anything is ingested."""
        if self._pipeline is None:
            self._pipeline = get_pipeline(self.settings)  # cached only once it succeeds
        return self._pipeline

    # ---- chat ---------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        messages: list[dict[str, Any]],
        session: ChatSession | None,
        sources: list[str] | None,
        since: str,
        until: str,
        top_k: float,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat; errors become an assistant message."""
        question = (question or "").strip()
        if not question:
            yield messages, "", gr.skip(), session
            return
        history = [*messages, _msg("user", render.md_escape(question))]

        def show(content: str) -> list[dict[str, Any]]:
            # A fresh list each time: Gradio diffs successive yields of the chatbot value.
            return [*history, _msg("assistant", content)]

        yield show("…"), "", render.SEARCHING_HTML, session
        try:
            filters = build_filters(sources, since, until)
        except ValueError as exc:
            yield show(render.error_markdown(str(exc))), "", render.sources_html(None), session
            return
        text = ""
        try:
            if session is None:
                session = ChatSession(self.pipeline())
            for item in session.stream(question, filters=filters, top_k=int(top_k)):
                if isinstance(item, Answer):
                    content = render.answer_with_sources_markdown(item)
                    yield show(content), "", render.sources_html(item), session
                    return
                text += item
                yield show(render.answer_markdown(text) + " ▌"), "", gr.skip(), session
        except Exception as exc:  # one failed request must not kill the page
            log.exception("answering %r failed", question)
            error = render.error_markdown(f"Could not answer: {_reason(exc)}")
            yield show(error), "", render.sources_html(None), session
            return
        # The stream ended without a final Answer: keep what was streamed.
        content = render.answer_markdown(text) or render.error_markdown("No answer.")
        yield show(content), "", render.sources_html(None), session

    @staticmethod
    def clear(session: ChatSession | None) -> tuple[Any, ...]:
        if session is not None:
            session.clear()
        return [], render.sources_html(None), session, ""

    @staticmethod
    def stopped(messages: list[dict[str, Any]]) -> tuple[Any, ...]:
        """After Stop: drop the streaming cursor from the cut-off answer and say it stopped."""
        if not messages or messages[-1].get("role") != "assistant":
            return gr.skip(), gr.skip()
        text = _text_of(messages[-1].get("content"))
        if not (text.endswith("▌") or text == "…"):
            return gr.skip(), gr.skip()
        text = text.removesuffix("▌").strip().removesuffix("…").strip()
        stopped = _msg("assistant", f"{text} _(stopped)_".strip())
        return [*messages[:-1], stopped], render.sources_html(None)

    @staticmethod
    def pick_example(evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value)

    # ---- corpus -------------------------------------------------------------------------

    def corpus_view(self) -> tuple[Any, ...]:
        """Fresh table, delete choices, source filter choices and example questions."""
        try:
            store = self.pipeline().store
            docs = store.list_documents()
            sources = store.sources()
            examples = example_questions(store, n=3)
            count = f"{len(docs)} article(s) in the store"
        except Exception as exc:
            log.warning("reading the store failed: %s", _reason(exc))
            docs, sources, examples = [], [], []
            count = render.md_escape(f"The store cannot be read: {_reason(exc)}")
        return (
            render.documents_rows(docs),
            gr.update(choices=render.document_choices(docs), value=None),
            gr.update(choices=sources),
            gr.update(examples=[{"text": q} for q in examples] or None),
            count,
        )

    def _ingest(self, progress: gr.Progress) -> IngestSummary:
        def report(done: int, total: int, path: str) -> None:
            progress((done, total), desc=f"ingesting {path}", unit="files")

        progress(0, desc="scanning the corpus")
        return ingest_corpus(self.settings, progress=report)

    def upload(self, files: list[str] | None, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Save the uploaded files into the corpus folder, then ingest."""
        if not files:
            raise gr.Error("Choose one or more files to upload first.")
        result = save_uploads(files, Path(self.settings.corpus_dir), self.settings.max_upload_bytes)
        lines = [f"- saved `{render.md_escape(p.name)}`" for p in result.saved]
        lines += [
            f"- refused `{render.md_escape(name)}`: {render.md_escape(reason)}"
            for name, reason in result.rejected
        ]
        status = "\n".join(lines)
        if result.saved:
            status = self._ingest_status(progress) + "\n\n**Uploads:**\n" + status
        return (status, None, *self.corpus_view())

    def reingest(self, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return (self._ingest_status(progress), *self.corpus_view())

    def _ingest_status(self, progress: gr.Progress) -> str:
        try:
            summary = self._ingest(progress)
        except Exception as exc:
            log.exception("ingest failed")
            raise gr.Error(f"Ingest failed: {_reason(exc)}") from exc
        return render.summary_markdown(summary)

    def delete(self, doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            raise gr.Error("Pick an article to delete (or click its row in the table).")
        try:
            message = delete_document(self.settings, doc_id)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc
        except Exception as exc:
            log.exception("deleting %r failed", doc_id)
            raise gr.Error(f"Delete failed: {_reason(exc)}") from exc
        return (render.md_escape(message), *self.corpus_view())

    @staticmethod
    def pick_row(evt: gr.SelectData) -> Any:
        row = evt.row_value or []
        return gr.update(value=row[-1]) if row else gr.skip()

    # ---- API ----------------------------------------------------------------------------

    def api_ask(self, question: str) -> str:
        """Answer one question: the text with [n] markers, then the numbered sources (Markdown)."""
        question = (question or "").strip()
        if not question:
            raise gr.Error("The question is empty.")
        try:
            answer = self.pipeline().answer(question)
        except Exception as exc:
            log.exception("answering %r failed", question)
            raise gr.Error(f"Could not answer: {_reason(exc)}") from exc
        return render.answer_with_sources_markdown(answer)

    def api_ingest(self) -> str:
        """Re-ingest the corpus folder; returns the summary line and any failures."""
        try:
            summary = ingest_corpus(self.settings)
        except Exception as exc:
            log.exception("ingest failed")
            raise gr.Error(f"Ingest failed: {_reason(exc)}") from exc
        return render.summary_text(summary)


def _msg(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def _text_of(content: Any) -> str:
    """The text of a chatbot message as the Chatbot hands it back (a list of parts)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


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
    h = _Handlers(settings, pipeline)
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
                            stop = gr.Button("Stop", variant="stop", **small, elem_id="stop")
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
        session = gr.State(None)

        view = [table, doc_pick, source_filter, chatbot, count]
        chat_inputs = [question, chatbot, session, source_filter, since, until, top_k]
        chat_outputs = [chatbot, question, sources_panel, session]
        asked = [
            question.submit(h.respond, chat_inputs, chat_outputs, **private),
            ask.click(h.respond, chat_inputs, chat_outputs, **private),
            chatbot.example_select(h.pick_example, None, question, **private).then(
                h.respond, chat_inputs, chat_outputs, **private
            ),
        ]
        stop.click(h.stopped, chatbot, [chatbot, sources_panel], cancels=asked, **private)
        cleared = [chatbot, sources_panel, session, question]
        clear.click(h.clear, session, cleared, cancels=asked, **private)
        chatbot.clear(h.clear, session, cleared, cancels=asked, **private)  # its trash icon

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
