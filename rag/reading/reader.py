"""Read the question with windows of the top passages; return scored spans and a no-answer score.

One forward pass over all windows (batched, padded to the longest). Per window, the best spans
(start + end logits over passage tokens only, at most `MAX_SPAN_TOKENS` long) with character
offsets in the *article*, the window's null score (the [CLS] span) and the answerability logit.
`Reading.confidence` combines them into the one number the answerer thresholds:

    confidence = (best span score - null score of its window) + answerable logit

Both parts say "this window states the answer": the first is SQuAD 2.0's span-vs-null margin,
the second the pooled head; summing them was better on the fit half than either alone
(training/evaluate_reader.py).
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "reader.safetensors"
MAX_SPAN_TOKENS = 24
TOP_TOKENS = 12  # start/end candidates per window


@dataclass(frozen=True)
class PassageText:
    """What the reader needs of one passage: its text, where that text starts in the article,
    its sentences (article offsets) and the sentence to centre the window on."""

    text: str
    start: int
    sentences: list[tuple[int, int]]
    focus: int = 0


@dataclass(frozen=True)
class Window:
    passage: int  # index into the passages given to `read`
    text: str
    start: int  # article offset of text[0]


@dataclass(frozen=True)
class ReadSpan:
    passage: int
    start: int  # article offsets
    end: int
    text: str
    score: float  # start + end logit


@dataclass
class WindowReading:
    window: Window
    spans: list[ReadSpan]  # best first
    null: float  # the no-answer span's score
    answerable: float  # the answerability head's logit

    @property
    def confidence(self) -> float:
        if not self.spans:
            return -1e9
        return self.spans[0].score - self.null + self.answerable


@dataclass
class Reading:
    windows: list[WindowReading] = field(default_factory=list)

    def ranked(self) -> list[WindowReading]:
        """Windows by confidence, best first (the reader's passage order)."""
        return sorted(self.windows, key=lambda w: -w.confidence)

    @property
    def best(self) -> WindowReading | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].spans else None

    @property
    def confidence(self) -> float:
        best = self.best
        return best.confidence if best else -1e9


def make_windows(passages: list[PassageText], tokenizer: Any, max_tokens: int) -> list[Window]:
    """One window per passage: its focus sentence, then neighbours (after first: news and
    encyclopedic text state the subject, then the detail) while the passage tokens fit."""
    out = []
    for pi, p in enumerate(passages):
        if not p.sentences:
            out.append(_cut(pi, p.text, p.start, tokenizer, max_tokens))
            continue
        lengths = [
            len(tokenizer(p.text[a - p.start : b - p.start], add_special_tokens=False)["input_ids"])
            for a, b in p.sentences
        ]
        lo = hi = min(max(p.focus, 0), len(p.sentences) - 1)
        used = lengths[lo]
        while True:
            grown = False
            if hi + 1 < len(lengths) and used + lengths[hi + 1] <= max_tokens:
                hi += 1
                used += lengths[hi]
                grown = True
            if lo > 0 and used + lengths[lo - 1] <= max_tokens:
                lo -= 1
                used += lengths[lo]
                grown = True
            if not grown:
                break
        a, b = p.sentences[lo][0], p.sentences[hi][1]
        out.append(_cut(pi, p.text[a - p.start : b - p.start], a, tokenizer, max_tokens))
    return out


def _cut(pi: int, text: str, start: int, tokenizer: Any, max_tokens: int) -> Window:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    if len(offsets) > max_tokens:
        text = text[: offsets[max_tokens - 1][1]]
    return Window(pi, text, start)


class SpanReader:
    """The trained reader, loaded once (lazily) and safe to share between threads."""

    def __init__(
        self,
        weights: Path = DEFAULT_WEIGHTS,
        *,
        window_tokens: int = 110,
        quantize: bool = True,
        base: Path | None = None,
    ) -> None:
        self.weights = weights
        self.window_tokens = window_tokens
        self.quantize = quantize
        self.base = base
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        # One read at a time: the fast tokenizer keeps its truncation and padding settings as
        # state, so two threads tokenizing at once corrupt each other's batch ("Unable to
        # create tensor"), and torch already uses both cores inside one forward pass.
        self._reading = threading.RLock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                import torch

                from rag.embedding import bundled_model_path
                from rag.reading.model import load_trained

                model, tokenizer = load_trained(self.base or bundled_model_path(), self.weights)
                if self.quantize:
                    # int8 linear layers: ~2x faster on CPU. torch 2.13 warns that its
                    # quantized tensor API is deprecated; the pinned torch still has it.
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        model = torch.ao.quantization.quantize_dynamic(
                            model, {torch.nn.Linear}, dtype=torch.qint8
                        )
                self._model, self._tokenizer = model, tokenizer
            return self._model, self._tokenizer

    def read(self, question: str, passages: list[PassageText]) -> Reading:
        if not passages:
            return Reading()
        model, tokenizer = self._load()
        with self._reading:
            windows = make_windows(passages, tokenizer, self.window_tokens)
            return Reading(self.read_windows(question, windows))

    def read_windows(self, question: str, windows: list[Window]) -> list[WindowReading]:
        model, tokenizer = self._load()
        with self._reading:
            return self._read_windows(model, tokenizer, question, windows)

    def _read_windows(
        self, model: Any, tokenizer: Any, question: str, windows: list[Window]
    ) -> list[WindowReading]:
        import torch

        question = _cut_question(question, tokenizer)
        enc = tokenizer(
            [question] * len(windows),
            [w.text for w in windows],
            truncation="only_second",
            max_length=MAX_QUESTION_TOKENS + 3 + self.window_tokens,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            start, end, answerable = model(
                enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
            )
        start_np, end_np = start.float().numpy(), end.float().numpy()
        ans = answerable.float().numpy()
        offsets = enc["offset_mapping"].numpy()
        out = []
        for i, w in enumerate(windows):
            ctx = np.array([s == 1 for s in enc.sequence_ids(i)])
            spans = _best_spans(start_np[i], end_np[i], ctx, offsets[i], w)
            null = float(start_np[i][0] + end_np[i][0])
            out.append(WindowReading(w, spans, null, float(ans[i])))
        return out


MAX_QUESTION_TOKENS = 64


def _cut_question(question: str, tokenizer: Any) -> str:
    """The question's first `MAX_QUESTION_TOKENS` word pieces: the window is the part that may
    be truncated, so an over-long question (a pasted paragraph) is cut here instead of making
    the tokenizer fail."""
    offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    if len(offsets) <= MAX_QUESTION_TOKENS:
        return question
    return question[: offsets[MAX_QUESTION_TOKENS - 1][1]]


def _best_spans(
    start: np.ndarray, end: np.ndarray, ctx: np.ndarray, offsets: np.ndarray, w: Window, k: int = 3
) -> list[ReadSpan]:
    idx = np.flatnonzero(ctx)
    if not len(idx):
        return []
    starts = idx[np.argsort(-start[idx])[:TOP_TOKENS]]
    ends = idx[np.argsort(-end[idx])[:TOP_TOKENS]]
    found: list[tuple[float, int, int]] = []
    for s in starts:
        for e in ends:
            if s <= e < s + MAX_SPAN_TOKENS:
                found.append((float(start[s] + end[e]), int(s), int(e)))
    found.sort(reverse=True)
    out: list[ReadSpan] = []
    for score, s, e in found:
        a, b = int(offsets[s][0]), int(offsets[e][1])
        text = w.text[a:b]
        a2, b2 = _trim(text)
        if a2 >= b2:
            continue
        span = ReadSpan(w.passage, w.start + a + a2, w.start + a + b2, text[a2:b2], score)
        if any(o.start < span.end and span.start < o.end for o in out):
            continue
        out.append(span)
        if len(out) == k:
            break
    return out


_EDGE = " \t\n,.;:!?\"'()[]{}“”‘’"


def _trim(text: str) -> tuple[int, int]:
    """Span bounds without surrounding spaces and punctuation (a "$5." is "$5")."""
    a, b = 0, len(text)
    while a < b and text[a] in _EDGE:
        a += 1
    while b > a and text[b - 1] in _EDGE:
        # keep a closing bracket or quote whose opener is inside the span, and the last dot
        # of an abbreviation ("U.S.")
        ch = text[b - 1]
        if ch == "." and b - a >= 3 and text[b - 3] == ".":
            break
        pair = {")": "(", "”": "“", "]": "["}.get(ch)
        if pair and pair in text[a : b - 1]:
            break
        b -= 1
    return a, b
