"""Load test: N concurrent clients asking SQuAD dev questions through the Gradio API.

For each store (embedded Chroma on disk, and a `chroma run` server on loopback) it starts
`newsrag serve` on a free loopback port over a store holding the 2,067 SQuAD dev passages, then
for N = 1, 4, 16 client threads (one `gradio_client.Client` each) sends a bounded number of
questions to `/ask` and prints throughput, p50/p95/p99 latency and errors per N, and the
ratio throughput(N=4) / throughput(N=1).

The store is built once under --bench-dir (default /tmp/newsrag-bench) with `ingest_corpus`
over the passages written as a JSONL article dump; the server store is filled by copying the
embedded one record by record (same ids, vectors, metadata and generation), which saves
embedding the corpus twice.

    .venv/bin/python bench/load.py                      # both stores, N = 1, 4, 16
    .venv/bin/python bench/load.py --stores embedded --levels 1,4 --requests 40,80
    .venv/bin/python bench/load.py --direct             # in-process Pipeline, no Gradio/HTTP

Targets on 2 cores: zero errors at N=16, p95 at N=16 <= 1.5 s, throughput(N=4) >= 1.6 x N=1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad-dev"))
BIN = Path(sys.executable).parent
COLLECTION = "articles"  # the default, as `newsrag ingest` would build it


# ----- the store --------------------------------------------------------------------------------
def write_corpus(bench: Path) -> Path:
    """The SQuAD passages as one JSONL article dump ({id, title, text} per line)."""
    corpus = bench / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / "squad-passages.jsonl"
    src = DATA / "passages.jsonl"
    if not target.exists() or target.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, target)
    return corpus


def embedded_settings(bench: Path):  # noqa: ANN201 - rag.settings.Settings
    from rag.settings import Settings

    return Settings(
        corpus_dir=bench / "corpus", store_dir=bench / "embedded", collection=COLLECTION
    )


def build_embedded(bench: Path) -> None:
    from ingest import ingest_corpus

    write_corpus(bench)
    t = time.perf_counter()
    summary = ingest_corpus(embedded_settings(bench))
    print(f"embedded store: {summary.line()} in {time.perf_counter() - t:.0f}s", flush=True)
    if summary.failed:
        raise SystemExit(f"ingest failed: {summary.failures[:3]}")
    backfill_sentence_counts(bench)


def backfill_sentence_counts(bench: Path) -> None:
    """Chunks written before chunk metadata carried "sentences" (the count that lets a query
    fetch a chunk's sentence vectors by id) get it here, as a fresh ingest would write it."""
    from collections import Counter

    from rag.store import PAGE, Store

    store = Store(embedded_settings(bench))
    first = store.chunks.get(limit=1, include=["metadatas"])
    if not first["ids"] or "sentences" in first["metadatas"][0]:
        return
    counts: Counter[str] = Counter()
    offset = 0
    while True:
        got = store.sentences.get(include=["metadatas"], limit=PAGE, offset=offset)
        counts.update(m["chunk_id"] for m in got["metadatas"])
        if len(got["ids"]) < PAGE:
            break
        offset += PAGE
    ids = [h.chunk_id for h in store.iter_chunks()]
    for lo in range(0, len(ids), PAGE):
        part = ids[lo : lo + PAGE]
        store.chunks.update(ids=part, metadatas=[{"sentences": counts.get(c, 0)} for c in part])
    store.bump_generation()
    print(f"backfilled sentence counts of {len(ids)} chunks", flush=True)


def copy_to_server(bench: Path, url: str) -> None:
    """Make the server's collections an exact copy of the embedded store's (if not already)."""
    from tqdm import tqdm

    from rag.store import PAGE, Store, make_client

    src_settings = embedded_settings(bench)
    dst_settings = src_settings.model_copy(update={"chroma_url": url})
    src = Store(src_settings)
    dst = Store(dst_settings, make_client(dst_settings))
    if dst.generation() and dst.generation() == src.generation() and dst.count() == src.count():
        return
    dst.reset()
    pairs = [(src.chunks, dst.chunks), (src.sentences, dst.sentences), (src.manifest, dst.manifest)]
    total = sum(a.count() for a, _ in pairs)
    with tqdm(total=total, desc="copying the store to the server", unit="rec", disable=None) as bar:
        for a, b in pairs:
            offset = 0
            while True:
                include = ["embeddings", "metadatas", "documents"]
                got = a.get(include=include, limit=PAGE, offset=offset)
                if not len(got["ids"]):
                    break
                b.upsert(
                    ids=got["ids"],
                    embeddings=got["embeddings"],
                    metadatas=got["metadatas"],
                    documents=got["documents"] if any(got["documents"] or []) else None,
                )
                bar.update(len(got["ids"]))
                offset += PAGE


# ----- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen, what: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


def start_chroma(bench: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(bench / "chroma.log", "ab")
    proc = subprocess.Popen(
        [
            str(BIN / "chroma"),
            "run",
            "--path",
            str(bench / "chroma-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v2/heartbeat", 120, proc, "chroma run")
    return proc, url


def start_app(
    bench: Path, mode: str, chroma_url: str | None, extra_env: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "NEWSRAG_STORE_DIR": str(bench / ("embedded" if mode == "embedded" else "server-app")),
        "NEWSRAG_CORPUS_DIR": str(bench / "corpus"),
        "NEWSRAG_COLLECTION": COLLECTION,
        **extra_env,
    }
    env.pop("NEWSRAG_CHROMA_URL", None)
    if chroma_url:
        env["NEWSRAG_CHROMA_URL"] = chroma_url
    log = open(bench / f"serve-{mode}.log", "ab")
    proc = subprocess.Popen(
        [str(BIN / "newsrag"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(bench),
    )
    url = f"http://127.0.0.1:{port}/"
    wait_http(f"{url}config", 300, proc, "newsrag serve")
    return proc, url


# ----- the load ---------------------------------------------------------------------------------
@dataclass
class LevelResult:
    store: str
    clients: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process during the run
    load: float = 0.0  # 1-minute load average at the end (the machine is shared)

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs) + 0.5) - 1))]

    def cpu_ms(self, proc: str) -> str:
        if proc not in self.cpu or not self.requests:
            return "-"
        return f"{1000 * self.cpu[proc] / self.requests:.0f}"

    def row(self) -> str:
        mean = statistics.fmean(self.latencies) if self.latencies else 0.0
        return (
            f"| {self.store:<8} | {self.clients:>2} | {self.requests:>4} | {self.errors:>3} | "
            f"{self.throughput:6.2f} | {self.pct(50):5.2f} | {self.pct(95):5.2f} | "
            f"{self.pct(99):5.2f} | {mean:5.2f} | {self.cpu_ms('app'):>4} | "
            f"{self.cpu_ms('chroma'):>6} | {self.cpu_ms('client'):>6} | {self.load:4.1f} |"
        )


HEADER = (
    "| store    |  N | reqs | err |  req/s |   p50 |   p95 |   p99 |  mean |  app | chroma "
    "| client | load |\n"
    "|----------|---:|-----:|----:|-------:|------:|------:|------:|------:|-----:|-------:"
    "|-------:|-----:|"
)
CPU_NOTE = (
    "app / chroma / client: CPU milliseconds per request of `newsrag serve`, of `chroma run` and "
    "of the load generator; load: 1-minute load average (the 2 cores are shared)."
)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    t = os.times()
    return {"client": t.user + t.system} | {name: proc_cpu(pid) for name, pid in pids.items()}


def load_questions(limit: int) -> list[str]:
    out = []
    with open(DATA / "questions.jsonl") as f:
        for line in f:
            out.append(json.loads(line)["question"])
            if len(out) >= limit:
                break
    return out


def run_level(
    store: str,
    clients: int,
    questions: list[str],
    make_ask,  # noqa: ANN001
    time_bound: float,
    pids: dict[str, int] | None = None,
) -> LevelResult:
    """`clients` threads share a queue of questions; each uses its own `ask` callable."""
    from tqdm import tqdm

    res = LevelResult(store, clients)
    lock = threading.Lock()
    todo = list(reversed(questions))
    asks = [make_ask() for _ in range(clients)]  # connect before the clock starts
    bar = tqdm(
        total=len(questions), desc=f"{store} N={clients}", unit="q", leave=False, disable=None
    )
    deadline = time.monotonic() + time_bound

    def worker(i: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    return
                q = todo.pop()
            t = time.perf_counter()
            try:
                asks[i](q)
                ok, err = True, ""
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok, err = False, f"{type(exc).__name__}: {str(exc)[:200]}"
            dt = time.perf_counter() - t
            with lock:
                res.requests += 1
                res.latencies.append(dt)
                if not ok:
                    res.errors += 1
                    if len(res.error_samples) < 3:
                        res.error_samples.append(err)
                bar.update(1)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    cpu0 = cpu_snapshot(pids or {})
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=time_bound + 120)
    res.seconds = time.perf_counter() - t0
    cpu1 = cpu_snapshot(pids or {})
    res.cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
    res.load = os.getloadavg()[0]
    bar.close()
    if any(th.is_alive() for th in threads):
        res.error_samples.append("some clients were still waiting at the time bound")
    return res


def gradio_asker(url: str):  # noqa: ANN201
    from gradio_client import Client

    def make():  # noqa: ANN202
        client = Client(url, verbose=False, download_files=False)
        return lambda q: client.predict(q, api_name="/ask")

    return make


def direct_asker(settings):  # noqa: ANN001, ANN201
    from rag.pipeline import get_pipeline

    pipe = get_pipeline(settings)

    def make():  # noqa: ANN202
        return lambda q: pipe.answer(q)

    return make


# ----- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench-dir", type=Path, default=Path("/tmp/newsrag-bench"))
    p.add_argument("--stores", default="embedded,server")
    p.add_argument("--levels", default="1,4,16", help="client counts")
    p.add_argument("--requests", default="40,80,160", help="requests per level")
    p.add_argument("--time-bound", type=float, default=300.0, help="seconds per level, at most")
    p.add_argument("--warmup", type=int, default=8, help="requests before measuring")
    p.add_argument("--direct", action="store_true", help="call the Pipeline in-process")
    p.add_argument("--env", action="append", default=[], help="NEWSRAG_X=value for the app")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(counts) != len(levels):
        counts = [counts[0] * n for n in levels] if len(counts) == 1 else counts[: len(levels)]
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    bench: Path = args.bench_dir
    bench.mkdir(parents=True, exist_ok=True)
    questions = load_questions(args.warmup + sum(counts) + 10)

    build_embedded(bench)
    results: list[LevelResult] = []
    for store in args.stores.split(","):
        chroma = app = None
        try:
            url = None
            if store == "server":
                chroma, url = start_chroma(bench)
                copy_to_server(bench, url)
            if args.direct:
                settings = embedded_settings(bench)
                if url:
                    settings = settings.model_copy(
                        update={"chroma_url": url, "store_dir": bench / "server-app"}
                    )
                make = direct_asker(settings)
            else:
                app, app_url = start_app(bench, store, url, extra_env)
                make = gradio_asker(app_url)
            warm = make()
            for q in questions[: args.warmup]:
                warm(q)
            offset = args.warmup
            for n, count in zip(levels, counts, strict=True):
                qs = questions[offset : offset + count]
                offset += count
                pids = {"app": app.pid} if app else {}
                if chroma:
                    pids["chroma"] = chroma.pid
                res = run_level(store, n, qs, make, args.time_bound, pids)
                results.append(res)
                print(res.row(), flush=True)
                for e in res.error_samples:
                    print(f"    error: {e}", flush=True)
        finally:
            stop(app)
            stop(chroma)

    print()
    print(
        f"{'direct (in-process)' if args.direct else 'Gradio /ask'}, {os.cpu_count()} CPUs, "
        f"latencies in seconds"
    )
    print(HEADER)
    for r in results:
        print(r.row())
    print(CPU_NOTE)
    for store in dict.fromkeys(r.store for r in results):
        by_n = {r.clients: r for r in results if r.store == store}
        if 1 in by_n and 4 in by_n and by_n[1].throughput:
            print(
                f"{store}: throughput(N=4) / throughput(N=1) = "
                f"{by_n[4].throughput / by_n[1].throughput:.2f}"
            )
        if 16 in by_n:
            r16 = by_n[16]
            ok = r16.errors == 0 and r16.pct(95) <= 1.5
            print(
                f"{store}: N=16 errors={r16.errors}, p95={r16.pct(95):.2f}s "
                f"({'meets' if ok else 'misses'} the target)"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "store": r.store,
                        "clients": r.clients,
                        "requests": r.requests,
                        "errors": r.errors,
                        "seconds": r.seconds,
                        "throughput": r.throughput,
                        "p50": r.pct(50),
                        "p95": r.pct(95),
                        "p99": r.pct(99),
                        "cpu_seconds": r.cpu,
                        "load": r.load,
                        "errors_sample": r.error_samples,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
