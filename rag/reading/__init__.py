"""Reading: our trained span reader finds the answer span and says when there is none.

`model` defines the network and its weight files; `reader` turns a question and passages into a
`Reading` (scored spans with article offsets, a confidence per window). Training lives in
`training/` at the top level; the shipped weights in `weights/` with their model card.
"""

from __future__ import annotations

from rag.reading.reader import (
    DEFAULT_WEIGHTS,
    PassageText,
    Reading,
    ReadSpan,
    SpanReader,
    Window,
    WindowReading,
)
from rag.settings import Settings


def load_reader(settings: Settings) -> SpanReader:
    """A reader for these settings (the model itself loads on first use)."""
    return SpanReader(
        settings.reader_weights or DEFAULT_WEIGHTS,
        window_tokens=settings.reader_window_tokens,
        quantize=settings.reader_quantize,
    )


__all__ = [
    "DEFAULT_WEIGHTS",
    "PassageText",
    "ReadSpan",
    "Reading",
    "SpanReader",
    "Window",
    "WindowReading",
    "load_reader",
]
