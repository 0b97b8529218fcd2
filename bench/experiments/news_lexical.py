"""The lexical side on news, at scale (issue 12): why plain BM25 over 150-word windows of
title + text beat newsrag's BM25 side on RealTimeQA.

No embeddings needed, so whole periods fit in minutes: the articles of every question of the
weeks in range (deduplicated by URL), split as newsrag's chunker splits them (sentence-packed,
`chunk_size` word pieces of MiniLM, `chunk_overlap` carried) or as fixed word windows, indexed
with bm25s (English stop words, snowball stemmer), and every answerable question asked as of its
date (articles published later, or undated, hidden). Reported: hit@1/5/10 of the answer string
in the unit's text. Variants: with the title on every unit, on the first unit only, or nowhere;
a lede prior (score - lede * sd(score) * log(1 + unit ordinal)); BM25 k1/b; chunk sizes.

    python bench/experiments/news_lexical.py --from 2024-01-01 --to 2024-06-30   # dev
    python bench/experiments/news_lexical.py --from 2024-07-01 --to 2024-12-31   # check

Results: see the docstring of bench/experiments/news_scoring.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from rag.text import bm25_tokenize

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CACHE = Path(os.environ.get("NEWSRAG_EXP_CACHE", "/work/data/newsrag-exp"))
REPO = Path(os.environ.get("REALTIMEQA_REPO", "/work/data/realtimeqa"))
log = logging.getLogger("news_lexical")

Unit = tuple[int, int, str, str]  # (article index, ordinal, title, text)


def windows(arts: list, words: int = 150, step: int = 120) -> list[Unit]:
    out = []
    for ai, a in enumerate(arts):
        # the title is kept apart so that the variants can put it where they want
        body = a.text.split()
        k = 0
        for start in range(0, max(len(body), 1), step):
            out.append((ai, k, a.title, " ".join(body[start : start + words])))
            k += 1
            if start + words >= len(body):
                break
    return out


def chunks(arts: list, size: int, overlap: int, name: str) -> list[Unit]:
    """newsrag's chunking (`ingest.chunking.Chunker`: whole sentences packed up to `size` word
    pieces, about `overlap` carried), with the word pieces counted in one batched tokenizer call
    per article (the Chunker counts sentence by sentence: too slow for 4,700 articles here).
    Sentences longer than a chunk are kept whole (rare; the Chunker cuts them)."""
    path = CACHE / f"lex-chunks-{name}-{size}-{overlap}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    from tqdm import tqdm

    from rag.pipeline import shared_embedder as get_embedder
    from rag.records import normalize_text
    from rag.sentences import sentence_spans
    from rag.settings import Settings

    tok = get_embedder(Settings())._model.tokenizer
    out = []
    for ai, a in enumerate(tqdm(arts, desc=f"chunk {size}", mininterval=10)):
        text = normalize_text(a.text)
        spans = sentence_spans(text)
        if not spans:
            continue
        sizes = [len(x) - 2 for x in tok([text[s:e] for s, e in spans])["input_ids"]]
        i, k = 0, 0
        while i < len(spans):
            j, total = i + 1, sizes[i]
            while j < len(spans) and total + sizes[j] <= size:
                total += sizes[j]
                j += 1
            out.append((ai, k, a.title, text[spans[i][0] : spans[j - 1][1]]))
            k += 1
            if j >= len(spans):
                break
            back, carried = j, 0
            while back - 1 > i and carried + sizes[back - 1] <= overlap:
                back -= 1
                carried += sizes[back]
            i = back
    path.write_bytes(pickle.dumps(out))
    return out


class Units:
    """Units tokenized once (title and body apart), indexed per variant."""

    def __init__(self, units: list[Unit], arts: list) -> None:
        self.units = units
        self.body = bm25_tokenize([u[3] for u in units])
        titles = list(dict.fromkeys(u[2] for u in units))
        tt = dict(zip(titles, bm25_tokenize(titles), strict=True))
        self.title = [tt[u[2]] for u in units]
        self.pub = np.array(
            [
                int(arts[u[0]].published.strftime("%Y%m%d")) if arts[u[0]].published else -1
                for u in units
            ]
        )
        self.ordinal = np.array([u[1] for u in units], dtype=float)


def evaluate(
    u: Units, qs: list, *, title: str, lede: float = 0.0, k1: float = 1.5, b: float = 0.75
) -> np.ndarray:
    import bm25s

    from evaluation.realtimeqa import contains

    docs = [
        (t + body) if title == "all" or (title == "first" and o == 0) else body
        for t, body, o in zip(u.title, u.body, u.ordinal, strict=True)
    ]
    r = bm25s.BM25(k1=k1, b=b)
    r.index(docs, show_progress=False)
    vocab = r.vocab_dict
    qtok = bm25_tokenize([q.question for q in qs])
    hits = np.zeros((len(qs), 3))
    for i, q in enumerate(qs):
        terms = [t for t in qtok[i] if t in vocab]
        if not terms:
            continue
        s = np.asarray(r.get_scores(terms), dtype=np.float64)
        ok = (u.pub >= 0) & (u.pub <= int(q.date.strftime("%Y%m%d"))) & (s > 0)
        s = np.where(ok, s, -np.inf)
        if lede:
            top = np.sort(s[ok])[-100:]
            sd = float(top.std()) if top.size > 1 else 1.0
            s = s - lede * sd * np.log1p(u.ordinal)
        order = np.argsort(-s, kind="stable")[:10]
        order = order[np.isfinite(s[order])]
        lab = np.array([contains(u.units[j][3], q.answer) for j in order], bool)
        hits[i] = [lab[:1].any(), lab[:5].any(), lab[:10].any()]
    return hits.mean(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="a", required=True)
    ap.add_argument("--to", dest="b", required=True)
    ap.add_argument("--sizes", default="200", help="chunk sizes (word pieces) to try")
    ap.add_argument("--no-windows", action="store_true", help="skip the window variants")
    ap.add_argument("--ledes", default="0.1,0.2")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    CACHE.mkdir(parents=True, exist_ok=True)
    from evaluation.realtimeqa import load_realtimeqa

    data = load_realtimeqa(REPO, dt.date.fromisoformat(args.a), dt.date.fromisoformat(args.b))
    arts = list(data.articles.values())
    qs = data.answerable()
    name = f"{args.a}_{args.b}"
    print(f"{name}: {len(qs)} answerable questions of {len(data.questions)}, {len(arts)} articles")

    def show(label: str, h: np.ndarray) -> None:
        print(f"  {label:44} {h[0]:.3f} {h[1]:.3f} {h[2]:.3f}", flush=True)

    if not args.no_windows:
        window_variants(arts, qs, show)
    ledes = [float(x) for x in args.ledes.split(",") if x]
    for size in [int(x) for x in args.sizes.split(",")]:
        ch = Units(chunks(arts, size, min(30, size // 5), name), arts)
        show(f"chunks {size}, title on every chunk (today)", evaluate(ch, qs, title="all"))
        show(f"chunks {size}, title on chunk 0", evaluate(ch, qs, title="first"))
        for lede in ledes:
            show(
                f"chunks {size}, title on every chunk, lede {lede}",
                evaluate(ch, qs, title="all", lede=lede),
            )
            show(
                f"chunks {size}, title on chunk 0, lede {lede}",
                evaluate(ch, qs, title="first", lede=lede),
            )
        show(f"chunks {size}, no title", evaluate(ch, qs, title="none"))
        for k1, b in ((1.2, 0.75), (0.9, 0.4), (2.0, 0.75)):
            show(
                f"chunks {size}, title on chunk 0, k1 {k1} b {b}",
                evaluate(ch, qs, title="first", k1=k1, b=b),
            )


def window_variants(arts: list, qs: list, show) -> None:  # noqa: ANN001
    win = Units(windows(arts), arts)
    show("windows 150/120, title in window 0 (baseline)", evaluate(win, qs, title="first"))
    show("windows, title on every window", evaluate(win, qs, title="all"))
    show("windows, no title", evaluate(win, qs, title="none"))
    show("windows, title in window 0, lede .1", evaluate(win, qs, title="first", lede=0.1))


if __name__ == "__main__":
    main()
