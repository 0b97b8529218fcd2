"""Train newsrag's span reader (`make reader`): fixed seed, a data manifest, checkpoints, --resume.

    python -m training.train_reader --run training/runs/reader            # full run
    python -m training.train_reader --run training/runs/reader --resume   # go on after a cut
    python -m training.train_reader --smoke --run /tmp/smoke              # a few steps, tiny data

A checkpoint (trainable weights, optimizer, schedule, step, RNG) is written every
`--checkpoint-minutes`; `--resume` rebuilds the same seeded data order and skips the batches
already seen, so a run cut off goes on from its last checkpoint instead of starting over.
At the end the weights are written in fp16 to `<run>/reader.safetensors`; `--export` copies them
to `rag/reading/weights/` (commit only final numbers: git keeps every version).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from training.data import (
    Example,
    manifest,
    news_distant,
    paired_negatives,
    sample,
    squad2_fit_half,
    squad_file,
)
from training.features import Feature, featurize

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parents[1] / "rag" / "reading" / "weights" / "reader.safetensors"


@dataclass
class TrainConfig:
    run: Path
    max_length: int = 192
    stride: int = 64
    batch: int = 16
    lr: float = 1e-4
    head_lr: float = 5e-4
    epochs: float = 1.0
    warmup: float = 0.06
    seed: int = 13
    threads: int = 2
    checkpoint_minutes: float = 5.0
    answerable_weight: float = 0.5
    max_steps: int | None = None
    sources: dict[str, int] = field(default_factory=dict)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_examples(
    data_dir: Path, realtimeqa: Path | None, cfg: TrainConfig
) -> dict[str, list[Example]]:
    qa = data_dir / "qa-train"
    parts = {
        "new_wiki": squad_file(qa / "new_wiki_v1.0.json", "new_wiki"),
        "reddit": squad_file(qa / "reddit_v1.0.json", "reddit"),
        "amazon": squad_file(qa / "amazon_reviews_v1.0.json", "amazon"),
        "squad2_train_prefix": squad_file(qa / "train-v2.0.first10articles.json", "squad2-train"),
        "squad2_dev_fit_half": squad2_fit_half(
            data_dir / "squad2-dev", data_dir / "squad-dev" / "passages.jsonl"
        ),
    }
    if realtimeqa is not None:
        parts["news_realtimeqa"] = news_distant(realtimeqa)
    pool = parts["new_wiki"] + parts["squad2_train_prefix"] + parts["squad2_dev_fit_half"]
    parts["paired_negatives"] = paired_negatives(
        pool, cfg.sources.get("paired_negatives", 4000), cfg.seed
    )
    out = {}
    for name, xs in parts.items():
        good = [
            e
            for e in xs
            if e.impossible
            or e.context[e.answer_start : e.answer_start + len(e.answer_text)] == e.answer_text
        ]
        out[name] = sample(good, cfg.sources.get(name), cfg.seed)
    return out


def _batches(features: list[Feature], batch: int, seed: int, epochs: float) -> list[list[int]]:
    rng = random.Random(seed)
    order: list[int] = []
    whole = math.floor(epochs)
    for _ in range(whole):
        idx = list(range(len(features)))
        rng.shuffle(idx)
        order += idx
    frac = epochs - whole
    if frac > 0:
        idx = list(range(len(features)))
        rng.shuffle(idx)
        order += idx[: int(len(idx) * frac)]
    return [order[i : i + batch] for i in range(0, len(order), batch)]


def _collate(features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(len(f.input_ids) for f in features)
    ids = torch.full((len(features), n), pad_id, dtype=torch.long)
    types = torch.zeros((len(features), n), dtype=torch.long)
    mask = torch.zeros((len(features), n), dtype=torch.long)
    for i, f in enumerate(features):
        k = len(f.input_ids)
        ids[i, :k] = torch.tensor(f.input_ids)
        types[i, :k] = torch.tensor(f.token_type_ids)
        mask[i, :k] = 1
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "start": torch.tensor([f.start for f in features]),
        "end": torch.tensor([f.end for f in features]),
        "answerable": torch.tensor([float(f.answerable) for f in features]),
    }


def train(cfg: TrainConfig, parts: dict[str, list[Example]], *, resume: bool = False) -> dict:
    """Train on `parts`, checkpointing under `cfg.run`; returns the run's record (losses)."""
    from rag.embedding import bundled_model_path
    from rag.reading.model import load_base, save_weights

    torch.set_num_threads(cfg.threads)
    _seed_all(cfg.seed)
    cfg.run.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_base(bundled_model_path())
    examples = [e for xs in parts.values() for e in xs]
    features = featurize(
        examples, tokenizer, max_length=cfg.max_length, stride=cfg.stride, seed=cfg.seed
    )
    batches = _batches(features, cfg.batch, cfg.seed, cfg.epochs)
    if cfg.max_steps is not None:
        batches = batches[: cfg.max_steps]
    data_manifest = {
        "parts": manifest(parts),
        "features": len(features),
        "steps": len(batches),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
    }
    (cfg.run / "manifest.json").write_text(json.dumps(data_manifest, indent=2))
    log.info(
        "reader training: %d examples, %d windows, %d steps",
        len(examples),
        len(features),
        len(batches),
    )

    head = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("encoder.")
    ]
    body = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}], weight_decay=0.01
    )
    warm = max(1, int(len(batches) * cfg.warmup))
    total = len(batches)

    def lr_factor(s: int) -> float:
        """Linear warm-up, then linear decay to zero at the last step."""
        return (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    ckpt = cfg.run / "checkpoint.pt"
    step = 0
    losses: list[float] = []
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = state["step"]
        losses = state["losses"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed at step %d of %d", step, len(batches))

    def checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": model.trainable_state(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "losses": losses,
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        tmp.replace(ckpt)  # atomic: a cut mid-write leaves the previous checkpoint

    model.train()
    ce = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()
    last = time.monotonic()
    bar = tqdm(total=len(batches), initial=step, desc="reader", unit="step")
    while step < len(batches):
        b = _collate([features[i] for i in batches[step]], tokenizer.pad_token_id)
        start, end, answerable = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
        loss = (ce(start, b["start"]) + ce(end, b["end"])) / 2 + cfg.answerable_weight * bce(
            answerable, b["answerable"]
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        step += 1
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}")
        if time.monotonic() - last > cfg.checkpoint_minutes * 60:
            checkpoint()
            save_weights(model, cfg.run / "reader.safetensors")
            last = time.monotonic()
    bar.close()
    checkpoint()
    save_weights(model, cfg.run / "reader.safetensors")
    k = max(1, min(20, len(losses) // 4))  # a smoke run has a dozen steps, not hundreds
    record = {"steps": step, "loss_first": _mean(losses[:k]), "loss_last": _mean(losses[-k:])}
    (cfg.run / "record.json").write_text(json.dumps(record, indent=2))
    return record


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--run", type=Path, default=Path("training/runs/reader"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--realtimeqa", type=Path, default=None, help="a RealTimeQA clone (news data)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--smoke", type=Path, default=None, help="a small SQuAD-format JSON: a few steps"
    )
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", action="store_true", help=f"copy the weights to {SHIPPED}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TrainConfig(
        run=args.run, epochs=args.epochs, threads=args.threads, max_steps=args.max_steps
    )
    if args.smoke:
        xs = squad_file(args.smoke, "smoke")
        cfg.lr, cfg.head_lr, cfg.batch, cfg.max_length = 3e-4, 1e-3, 4, 128
        cfg.checkpoint_minutes = 0.0
        parts = {"smoke": xs}
    else:
        cfg.sources = {"reddit": 3000, "amazon": 2000, "paired_negatives": 4000}
        parts = load_examples(args.data, args.realtimeqa, cfg)
    record = train(cfg, parts, resume=args.resume)
    log.info("done: %s", record)
    if args.export:
        SHIPPED.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfg.run / "reader.safetensors", SHIPPED)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
