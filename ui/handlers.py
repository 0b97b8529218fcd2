"""Event handlers of the web app: each turns widget values into one `rag` or `ingest` call.

Errors never escape as a dead page: chat failures become an assistant message, corpus and API
failures a `gr.Error` with the reason. Handlers hold no locks; the backend keeps the store
consistent while an ingest runs, so people can keep chatting.
"""

import logging
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import gradio as gr

from ingest import delete_document, ingest_corpus
from ingest.summary import IngestSummary
from rag import ChatSession, get_pipeline
from rag.records import Answer, Query
from rag.settings import Settings
from rag.store.lease import LeaseHeldError
from ui import render
from ui.errors import user_error
from ui.examples import example_questions
from ui.filters import build_filters, parse_as_of
from ui.uploads import save_uploads

log = logging.getLogger(__name__)


@dataclass
class Conversation:
    """One browser session's chat (kept in a gr.State): the backend session with its history,
    the number of the question being answered and whether Stop or Clear was asked for it."""

    session: ChatSession | None = None
    turn: int = 0
    stop: Literal["stop", "clear"] | None = None


class Handlers:
    """Event handlers bound to one settings object and one pipeline."""

    def __init__(self, settings: Settings, pipeline: Any | None) -> None:
        self.settings = settings
        self._pipeline = pipeline

    def pipeline(self) -> Any:
        """The pipeline, opened on first need: the app may start before anything is ingested."""
        if self._pipeline is None:
            self._pipeline = get_pipeline(self.settings)  # cached only once it succeeds
        return self._pipeline

    def _shared(self, *, embedder: bool = True) -> dict[str, Any]:
        """The process's store, embedder and BM25 manager, for ingest and delete: the model
        loads and the store opens once per process, whoever asks first."""
        from rag.pipeline import shared_bm25, shared_embedder, shared_store

        store = shared_store(self.settings)
        parts: dict[str, Any] = {"store": store, "bm25": shared_bm25(self.settings, store)}
        if embedder:
            parts["embedder"] = shared_embedder(self.settings)
        return parts

    # ---- chat ---------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        messages: list[dict[str, Any]],
        conv: Conversation | None,
        sources: list[str] | None,
        since: str,
        until: str,
        top_k: float,
        as_of: str = "",
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat; errors become an assistant message.

        Stop and Clear set a flag on the conversation that is checked between streamed pieces,
        so the generator itself writes the last state of the chat: cancelling the event from
        outside would race with pieces already on their way and could leave a half answer.
        """
        conv = conv or Conversation()
        question = (question or "").strip()
        if not question:
            yield messages, "", gr.skip(), conv
            return
        conv.turn += 1
        conv.stop = None
        turn = conv.turn
        history = [*messages, _msg("user", render.md_escape(question))]

        def show(content: str) -> list[dict[str, Any]]:
            # A fresh list each time: Gradio diffs successive yields of the chatbot value.
            return [*history, _msg("assistant", content)]

        def halted(text: str) -> tuple[Any, ...]:
            if conv.stop == "clear":
                return [], "", render.sources_html(None), conv
            stopped = f"{render.answer_markdown(text)} _(stopped)_".strip()
            return show(stopped), "", render.sources_html(None), conv

        yield show("…"), "", render.SEARCHING_HTML, conv
        try:
            filters = build_filters(sources, since, until)
            asked = Query.of(question, filters=filters, top_k=int(top_k), as_of=parse_as_of(as_of))
        except ValueError as exc:
            yield show(render.error_markdown(str(exc))), "", render.sources_html(None), conv
            return
        text = ""
        try:
            if conv.session is None:
                conv.session = ChatSession(self.pipeline())
            # a generator: closing it stops an LLM's generation when the user leaves
            stream = cast(
                Generator[str | Answer, None, None],
                conv.session.stream(asked),
            )
            with closing(stream) as it:
                for item in it:
                    if conv.turn != turn:  # a newer question in this browser took over
                        return
                    if conv.stop:
                        if conv.stop == "clear":
                            conv.session.clear()  # the finished turn may have been recorded
                        yield halted(text)
                        return
                    if isinstance(item, Answer):
                        content = render.answer_with_sources_markdown(item)
                        yield show(content), "", render.sources_html(item), conv
                        return
                    text += item
                    yield show(render.answer_markdown(text) + " ▌"), "", gr.skip(), conv
        except Exception as exc:  # one failed request must not kill the page
            log.exception("answering %r failed", question)
            error = render.error_markdown(f"Could not answer: {_reason(exc)}")
            yield show(error), "", render.sources_html(None), conv
            return
        # The stream ended without a final Answer: keep what was streamed.
        content = render.answer_markdown(text) or render.error_markdown("No answer.")
        yield show(content), "", render.sources_html(None), conv

    @staticmethod
    def stop(conv: Conversation | None) -> None:
        """Ask the answer being streamed in this browser to stop at its next piece."""
        if conv is not None:
            conv.stop = "stop"

    @staticmethod
    def clear(conv: Conversation | None) -> tuple[Any, ...]:
        """Forget the conversation; an answer still streaming ends without writing."""
        if conv is not None:
            conv.stop = "clear"
            if conv.session is not None:
                conv.session.clear()
        return [], render.sources_html(None), conv, ""

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

    def _ingest(self, progress: gr.Progress, command: str) -> IngestSummary:
        def report(done: int, total: int, path: str) -> None:
            progress((done, total), desc=f"ingesting {path}", unit="files")

        progress(0, desc="scanning the corpus")
        return ingest_corpus(self.settings, progress=report, command=command, **self._shared())

    def upload(self, files: list[str] | None, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Save the uploaded files into the corpus folder, then ingest."""
        if not files:
            raise user_error("Choose one or more files to upload first.")
        result = save_uploads(files, Path(self.settings.corpus_dir), self.settings.max_upload_bytes)
        lines = [f"- saved `{render.md_escape(p.name)}`" for p in result.saved]
        lines += [
            f"- refused `{render.md_escape(name)}`: {render.md_escape(reason)}"
            for name, reason in result.rejected
        ]
        status = "\n".join(lines)
        if result.saved:
            status = (
                self._ingest_status(progress, "web chat: upload") + "\n\n**Uploads:**\n" + status
            )
        return (status, None, *self.corpus_view())

    def reingest(self, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return (self._ingest_status(progress, "web chat: re-ingest"), *self.corpus_view())

    def _ingest_status(self, progress: gr.Progress, command: str) -> str:
        try:
            summary = self._ingest(progress, command)
        except LeaseHeldError as exc:  # another writer: the CLI's exit-4 line, word for word
            raise user_error(str(exc)) from exc
        except Exception as exc:
            log.exception("ingest failed")
            raise user_error(f"Ingest failed: {_reason(exc)}") from exc
        return render.summary_markdown(summary)

    def delete(self, doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            raise user_error("Pick an article to delete (or click its row in the table).")
        try:
            message = delete_document(
                self.settings, doc_id, command="web chat: delete", **self._shared(embedder=False)
            )
        except (ValueError, LeaseHeldError) as exc:
            raise user_error(str(exc)) from exc
        except Exception as exc:
            log.exception("deleting %r failed", doc_id)
            raise user_error(f"Delete failed: {_reason(exc)}") from exc
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
            raise user_error("The question is empty.")
        try:
            answer = self.pipeline().answer(question)
        except Exception as exc:
            log.exception("answering %r failed", question)
            raise user_error(f"Could not answer: {_reason(exc)}") from exc
        return render.answer_with_sources_markdown(answer)

    def api_ingest(self) -> str:
        """Re-ingest the corpus folder; returns the summary line and any failures."""
        try:
            summary = ingest_corpus(self.settings, command="web API: ingest", **self._shared())
        except LeaseHeldError as exc:
            raise user_error(str(exc)) from exc
        except Exception as exc:
            log.exception("ingest failed")
            raise user_error(f"Ingest failed: {_reason(exc)}") from exc
        return render.summary_text(summary)


def _msg(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
