"""`newsrag eval realtimeqa`: retrieval and answers on real news (RealTimeQA weekly quizzes).

A clone of github.com/realtimeqa/realtimeqa_public holds, per week, `past/YYYY/YYYYMMDD_qa.jsonl`
(question_sentence, choices, answer indices, question_date) and `past/YYYY/YYYYMMDD_gcs.jsonl`
(per question_id the search results its authors retrieved: url, title, publish_date, text).

The articles of every question of the weeks in range, deduplicated by URL, are written as one
JSONL dump per week under `<store-dir>/corpus/` and ingested by the ordinary incremental ingest
(source = the URL's host, published = publish_date), so a second run only asks questions. Each
question is asked *as of its question date* (nothing published later, nor undated, is visible;
today a `Filters(until=question_date)`), and only questions whose gold answer string occurs in
one of their own articles visible at that date are asked.

Reported, in one run: passage hit@1/5/10 (the gold answer string, case-insensitive, as a whole
word, in the passage text) for newsrag's fused ranking, its BM25 side and its dense side (the
raw candidate lists the retrieval keeps), and for a plain baseline: bm25s (English stop words,
snowball stemmer) over 150-word windows (step 120) of title + text, under the same date rule;
containment; short_hit (`evaluation.metrics.short_hit`) and short_f1 (token F1 against the gold
choice); read_hit_at_1 (the passage the answer cites first: the reader's choice); abstention;
p50/p95 latency.

The data is not ours to redistribute: nothing of it is committed; the store lives under
`--store-dir` (default `.newsrag-eval/realtimeqa`, gitignored).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from evaluation.metrics import short_f1, short_hit, short_prediction
from evaluation.window_baseline import WindowBaseline
from rag.records import Filters
from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_STORE = Path(".newsrag-eval") / "realtimeqa"
KS = (1, 5, 10)
_WEEK_FILE = re.compile(r"^(\d{8})_qa\.jsonl$")


class RealTimeQAError(ValueError):
    """The repository path or its files are not a usable RealTimeQA layout."""


@dataclass
class NewsArticle:
    url: str
    title: str
    text: str
    published: dt.date | None
    week: str  # YYYYMMDD of the first week that retrieved it

    @property
    def source(self) -> str:
        host = urlparse(self.url).netloc.lower()
        return host[4:] if host.startswith("www.") else host


@dataclass
class NewsQuestion:
    qid: str
    question: str
    answer: str
    date: dt.date
    urls: list[str] = field(default_factory=list)


@dataclass
class RealTimeQA:
    questions: list[NewsQuestion]  # every question in range with a gold answer
    articles: dict[str, NewsArticle]  # url -> article

    def answerable(self) -> list[NewsQuestion]:
        """Questions whose answer occurs in one of their own articles visible at their date."""
        out = []
        for q in self.questions:
            for url in q.urls:
                a = self.articles.get(url)
                if a and visible(a.published, q.date) and has_answer(f"{a.title}\n{a.text}", q):
                    out.append(q)
                    break
        return out


def visible(published: dt.date | None, as_of: dt.date) -> bool:
    """The date rule of `Filters(until=...)`: dated on or before, undated articles hidden."""
    return published is not None and published <= as_of


def _answer_pattern(answer: str) -> re.Pattern[str]:
    words = " ".join(answer.lower().split())
    return re.compile(r"(?<!\w)" + re.escape(words).replace(r"\ ", r"\s+") + r"(?!\w)")


_PATTERNS: dict[str, re.Pattern[str]] = {}


def contains(text: str, answer: str) -> bool:
    """The answer string in `text`, case-insensitive, as whole words ("3" is not in "2023")."""
    pat = _PATTERNS.get(answer)
    if pat is None:
        pat = _PATTERNS[answer] = _answer_pattern(answer)
    return bool(pat.search(text.lower()))


def has_answer(text: str, q: NewsQuestion) -> bool:
    return contains(text, q.answer)


def _parse_date(value: Any) -> dt.date | None:
    from ingest.loaders import parse_date

    return parse_date(value) if value else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RealTimeQAError(f"{path}: line {n}: not JSON ({exc.msg})") from None
    return out


def week_files(repo: Path, date_from: dt.date | None, date_to: dt.date | None) -> list[Path]:
    """The weekly `_qa.jsonl` files of `repo/past/*/` whose week date is in range."""
    past = repo / "past"
    if not repo.is_dir() or not past.is_dir():
        raise RealTimeQAError(f"{repo}: not a RealTimeQA clone (no past/ folder)")
    out = []
    for path in sorted(past.glob("*/*_qa.jsonl")):
        m = _WEEK_FILE.match(path.name)
        if not m:
            continue
        day = dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        out.append(path)
    return out


def load_realtimeqa(
    repo: Path, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> RealTimeQA:
    files = week_files(repo, date_from, date_to)
    if not files:
        raise RealTimeQAError(
            f"{repo}: no weekly _qa.jsonl files between {date_from} and {date_to}"
        )
    questions: list[NewsQuestion] = []
    articles: dict[str, NewsArticle] = {}
    for qa_path in files:
        week = qa_path.name[:8]
        gcs_path = qa_path.with_name(f"{week}_gcs.jsonl")
        results = (
            {r.get("question_id"): r for r in _read_jsonl(gcs_path)} if gcs_path.exists() else {}
        )
        for rec in _read_jsonl(qa_path):
            answer = _gold(rec)
            date = (
                _parse_date(rec.get("question_date")) or dt.datetime.strptime(week, "%Y%m%d").date()
            )
            urls: list[str] = []
            for hit in (results.get(rec.get("question_id")) or {}).get("search_result") or []:
                url, text = str(hit.get("url") or "").strip(), str(hit.get("text") or "")
                if not url or not text.strip():
                    continue
                urls.append(url)
                if url not in articles:
                    articles[url] = NewsArticle(
                        url=url,
                        title=str(hit.get("title") or "").strip(),
                        text=text,
                        published=_parse_date(hit.get("publish_date")),
                        week=week,
                    )
            if answer:
                q = NewsQuestion(
                    str(rec.get("question_id")), rec["question_sentence"], answer, date
                )
                q.urls = list(dict.fromkeys(urls))
                questions.append(q)
    return RealTimeQA(questions, articles)


def _gold(rec: dict[str, Any]) -> str:
    try:
        return str(rec["choices"][int(rec["answer"][0])]).strip()
    except (KeyError, IndexError, TypeError, ValueError):
        return ""


# ----- the store ------------------------------------------------------------------------------


def realtimeqa_settings(settings: Settings, store_dir: Path | None) -> Settings:
    store = Path(store_dir or DEFAULT_STORE)
    return settings.model_copy(
        update={"store_dir": store, "corpus_dir": store / "corpus", "collection": "realtimeqa"}
    )


def write_corpus(data: RealTimeQA, corpus_dir: Path) -> None:
    """One JSONL dump per week (url is the doc id); dumps of weeks out of range are removed,
    so the incremental ingest makes the store hold exactly these articles."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    by_week: dict[str, list[NewsArticle]] = {}
    for a in data.articles.values():
        by_week.setdefault(a.week, []).append(a)
    for week, arts in by_week.items():
        text = "".join(
            json.dumps(
                {
                    "url": a.url,
                    "title": a.title,
                    "text": a.text,
                    "source": a.source,
                    "published": a.published.isoformat() if a.published else "",
                },
                ensure_ascii=False,
            )
            + "\n"
            for a in arts
        )
        path = corpus_dir / f"{week}.jsonl"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for old in corpus_dir.glob("*.jsonl"):
        if old.stem not in by_week:
            old.unlink()


def subset(data: RealTimeQA, limit: int | None) -> RealTimeQA:
    """`limit` answerable questions spread evenly over the period, and only their articles
    (ingest is the cost of a news run: a half year is ~4,500 articles; 100 questions need
    ~600). Fewer articles also means fewer distractors: the window baseline, measured in the
    same run over the same articles, is the fair comparison."""
    answerable = data.answerable()
    if not limit or limit >= len(answerable):
        return data
    picked = [answerable[(2 * i + 1) * len(answerable) // (2 * limit)] for i in range(limit)]
    urls = {u for q in picked for u in q.urls}
    return RealTimeQA(picked, {u: a for u, a in data.articles.items() if u in urls})


def prepare_store(data: RealTimeQA, settings: Settings) -> None:
    from ingest import ingest_corpus

    write_corpus(data, settings.corpus_dir)
    summary = ingest_corpus(settings)
    log.info("RealTimeQA store: %s", summary.line())


# ----- the run --------------------------------------------------------------------------------


class HitAtK:
    def __init__(self) -> None:
        self.rows: list[list[bool]] = []

    def add(self, passages: list[str], answer: str) -> None:
        first = next((i for i, p in enumerate(passages[:10]) if contains(p, answer)), None)
        self.rows.append([first is not None and first < k for k in KS])

    def summary(self) -> dict[str, float]:
        arr = np.asarray(self.rows, dtype=np.float64).reshape(-1, len(KS))
        means = arr.mean(axis=0) if len(arr) else np.zeros(len(KS))
        return {f"passage_hit_at_{k}": round(float(v), 4) for k, v in zip(KS, means, strict=True)}


def run_realtimeqa(
    repo: Path,
    date_from: dt.date | None,
    date_to: dt.date | None,
    limit: int | None,
    store_dir: Path | None,
    settings: Settings,
    *,
    progress: bool = False,
    on_question: Callable[[NewsQuestion, Any], None] | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the store of the weeks in range and score every answerable question
    (`limit` of them spread over the period, see `subset`) as of its date.
    `on_question(question, retrieval)` lets a caller (bench/experiments/news_scoring.py) keep
    what it needs of each retrieval."""
    from tqdm import tqdm

    from rag.pipeline import Pipeline

    data = subset(load_realtimeqa(Path(repo), date_from, date_to), limit)
    s = realtimeqa_settings(settings, store_dir)
    prepare_store(data, s)
    questions = data.answerable()
    pipeline = Pipeline(s)
    windows = WindowBaseline(data.articles.values())
    fused, bm25, dense, win = HitAtK(), HitAtK(), HitAtK(), HitAtK()
    contained: list[bool] = []
    abstained: list[bool] = []
    shorts: list[bool] = []
    short_f1s: list[float] = []
    read_hits: list[bool] = []
    latencies: list[float] = []
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress):
        filters = Filters(until=q.date)  # "as of its question date"
        t0 = time.perf_counter()
        retrieval = pipeline.retrieve(q.question, filters=filters, top_k=10)
        answer = pipeline.answerer.answer(q.question, retrieval)
        latencies.append((time.perf_counter() - t0) * 1000)
        fused.add([p.hit.text for p in retrieval.passages], q.answer)
        bm25.add(_texts(pipeline, retrieval.bm25_ids[:10]), q.answer)
        dense.add(_texts(pipeline, retrieval.dense_ids[:10]), q.answer)
        win.add(windows.search(q.question, q.date), q.answer)
        contained.append(not answer.abstained and contains(answer.text, q.answer))
        abstained.append(answer.abstained)
        shorts.append(short_hit(short_prediction(answer), q.answer))
        short_f1s.append(short_f1(short_prediction(answer), [q.answer]))
        # the reader's hit@1: the passage the answer cites first (the reader's best window;
        # the top fused passage when it refused)
        first = answer.citations[0].passage if answer.citations else ""
        read_hits.append(contains(first, q.answer))
        if on_question is not None:
            on_question(q, retrieval)
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {
        "questions": len(questions),
        **fused.summary(),
        "containment": round(float(np.mean(contained)), 4) if contained else 0.0,
        "abstention_rate": round(float(np.mean(abstained)), 4) if abstained else 0.0,
        "short_hit": round(float(np.mean(shorts)), 4) if shorts else 0.0,
        "short_f1": round(float(np.mean(short_f1s)), 4) if short_f1s else 0.0,
        "read_hit_at_1": round(float(np.mean(read_hits)), 4) if read_hits else 0.0,
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "articles": len(data.articles),
        "baselines": {
            "bm25_windows": win.summary(),
            "bm25": bm25.summary(),
            "dense": dense.summary(),
        },
    }


def _texts(pipeline: Any, chunk_ids: list[str]) -> list[str]:
    by_id = {h.chunk_id: h.text for h in pipeline.store.get_chunks(list(chunk_ids))}
    return [by_id.get(c, "") for c in chunk_ids]


def format_realtimeqa(m: dict[str, Any]) -> str:
    lines = [
        f"questions: {m['questions']} (articles: {m.get('articles', '?')})",
        f"{'':24} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6}",
    ]
    rows = [("newsrag (fused)", m)] + [(f"baseline: {k}", v) for k, v in m["baselines"].items()]
    for name, r in rows:
        lines.append(
            f"{name:24} {r['passage_hit_at_1']:6.3f} {r['passage_hit_at_5']:6.3f} "
            f"{r['passage_hit_at_10']:6.3f}"
        )
    keys = ("read_hit_at_1", "containment", "short_hit", "short_f1", "abstention_rate")
    for key in (*keys, "p50_ms", "p95_ms"):
        lines.append(f"{key}: {m[key]}")
    return "\n".join(lines)
