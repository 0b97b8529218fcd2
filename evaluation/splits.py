"""The fit / check split of SQuAD dev by title: what the reader may train on and what checks it.

SQuAD 2.0 dev's titles sorted alphabetically, the first `len // 2` the fit half, the rest the
check half. SQuAD v1.1 dev questions count as the check half when their title is not in SQuAD
2.0's fit half (never trained on).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def title_halves(titles: set[str] | list[str]) -> tuple[list[str], list[str]]:
    """The distinct titles sorted alphabetically, split at `len // 2` (35 titles: 17 + 18)."""
    ordered = sorted(set(titles))
    return ordered[: len(ordered) // 2], ordered[len(ordered) // 2 :]


def fit_titles(squad2_dir: Path) -> set[str]:
    """SQuAD 2.0 dev's fit half of titles; empty, with a warning, when its questions file is
    not there (then no check half can be told apart)."""
    path = squad2_dir / "questions.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        log.warning("%s: no SQuAD 2.0 dev questions: no check half reported", path)
        return set()
    titles = {json.loads(line)["title"] for line in lines if line.strip()}
    return set(title_halves(titles)[0])
