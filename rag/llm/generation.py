"""Generation with a deadline, in a worker thread: a slow or stuck backend never blocks the
caller past `llm_timeout`, and stopping a stream stops the model (or closes its HTTP response)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class GenerationTimeout(TimeoutError):
    pass


# HTTP responses opened by the current thread's generation, closed when it ends or is stopped:
# closing llama-index's stream alone leaves the openai `Stream` (and its connection) to the
# garbage collector, so a stopped answer would go on generating on the server.
_open_responses = threading.local()


def track_response(response: Any) -> None:
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
