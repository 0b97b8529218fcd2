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
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from load_setup import (  # noqa: E402 - after the path and env set-up above
    DATA,
    build_embedded,
    copy_to_server,
    embedded_settings,
    start_app,
    start_chroma,
    stop,
)


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
