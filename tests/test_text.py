"""rag.text: the one tokenizer of ingest, BM25 and scoring."""

from __future__ import annotations

import sys
import threading

import pytest

from rag import text


def test_tokenize_and_bm25_tokenize_agree() -> None:
    sample = "The cats were running in the parks of Paris, and 2024's budget rose."
    assert text.tokenize(sample) == text.bm25_tokenize([sample])[0]


def test_stem_cache_survives_eviction_under_concurrent_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads tokenizing while the stem cache keeps filling up: the cache used to be cleared
    under readers (KeyError under load); now every call returns the right stems."""
    words = [f"running{i} jumped{i} cats{i} parks{i}" for i in range(400)]
    expected = {w: text.tokenize(w) for w in words}
    monkeypatch.setattr(text, "_STEMS_MAX", 16)  # evict all the time
    monkeypatch.setattr(text, "_STEMS", {})
    errors: list[BaseException] = []
    wrong: list[str] = []
    start = threading.Barrier(8)

    def worker(offset: int) -> None:
        try:
            start.wait(timeout=30)
            for rep in range(6):
                for i in range(len(words)):
                    w = words[(i * 7 + offset * 31 + rep) % len(words)]
                    if text.tokenize(w) != expected[w]:
                        wrong.append(w)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    finally:
        sys.setswitchinterval(old_interval)
    assert not errors, errors[:3]
    assert not wrong
