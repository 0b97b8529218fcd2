"""Examples to token windows with start/end labels (position 0 = no answer in this window)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from training.data import Example


@dataclass
class Feature:
    input_ids: list[int]
    token_type_ids: list[int]
    start: int
    end: int
    answerable: int


def featurize(
    examples: list[Example],
    tokenizer: Any,
    *,
    max_length: int,
    stride: int,
    seed: int,
    extra_window_p: float = 0.3,
) -> list[Feature]:
    """One window per example holding its answer (or one window for a question without one),
    plus, with probability `extra_window_p`, one more window of a long context without it: the
    reader sees windows of passages that miss the answer at serving time too."""
    rng = random.Random(seed)
    out: list[Feature] = []
    # A question longer than a third of the window leaves too little room for the passage (and
    # the tokenizer refuses a stride that long): such questions are dropped, not truncated.
    q_lens = tokenizer([e.question for e in examples], add_special_tokens=False)["input_ids"]
    examples = [e for e, q in zip(examples, q_lens, strict=True) if len(q) <= max_length // 3]
    batch = 256
    for lo in range(0, len(examples), batch):
        chunk = examples[lo : lo + batch]
        enc = tokenizer(
            [e.question for e in chunk],
            [e.context for e in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        windows: dict[int, list[int]] = {}
        for f, ex_index in enumerate(enc["overflow_to_sample_mapping"]):
            windows.setdefault(ex_index, []).append(f)
        for ex_index, feats in windows.items():
            e = chunk[ex_index]
            labelled = [_label(enc, f, e) for f in feats]
            with_answer = [x for x in labelled if x.answerable]
            without = [x for x in labelled if not x.answerable]
            if e.impossible or not with_answer:
                if e.impossible:
                    out.append(rng.choice(without))
                continue
            out.append(with_answer[0])
            if without and rng.random() < extra_window_p:
                out.append(rng.choice(without))
    return out


def _label(enc: Any, f: int, e: Example) -> Feature:
    ids = enc["input_ids"][f]
    types = enc["token_type_ids"][f]
    seq = enc.sequence_ids(f)
    offsets = enc["offset_mapping"][f]
    if e.impossible:
        return Feature(ids, types, 0, 0, 0)
    a, b = e.answer_start, e.answer_start + len(e.answer_text)
    ctx = [i for i, s in enumerate(seq) if s == 1]
    if not ctx or offsets[ctx[0]][0] > a or offsets[ctx[-1]][1] < b:
        return Feature(ids, types, 0, 0, 0)
    start = next(i for i in ctx if offsets[i][1] > a)
    end = next(i for i in reversed(ctx) if offsets[i][0] < b)
    if end < start:
        return Feature(ids, types, 0, 0, 0)
    return Feature(ids, types, start, end, 1)
