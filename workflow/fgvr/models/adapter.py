"""The interface every model family implements, the poolings, and the dual-encoder base.

An adapter wraps a checkpoint loaded with from_pretrained (model, image processor, tokenizer).
``preprocess`` runs on the CPU, in DataLoader workers, and never touches the model;
``encode_images`` / ``encode_texts`` return float32 CPU tensors (B, D) keyed by representation
name (DESIGN.md: vision.mean, connector.mean, llm.last, llm.mean for an MLLM; vision.mean and
embed for a VLM).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .loading import pick_device, pick_dtype


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of ``hidden`` (B, T, D) where ``mask`` (B, T) is true, in float32: a
    bfloat16 sum would round a count of 729 tokens to 728."""
    weights = mask.to(torch.float32).unsqueeze(-1)
    return (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1)


def last_valid(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at each row's last position where ``mask`` is true."""
    last = mask.shape[1] - 1 - mask.flip(1).int().argmax(1)
    return hidden[torch.arange(len(hidden), device=hidden.device), last]


class Adapter:
    kind: str = ""
    image_keys: tuple[str, ...] = ()
    text_keys: tuple[str, ...] = ()
    auto_class = "AutoModel"

    family = None  # its row of families.FAMILIES (set by load_adapter)
    trust_remote_code = False
    deferred_readback = False  # set by extraction's pipeline: see _out

    def __init__(self, path: str | Path, model, image_processor, tokenizer, device: torch.device, dtype: torch.dtype):
        self.path, self.model = Path(path), model
        self.image_processor, self.tokenizer = image_processor, tokenizer
        self.device, self.dtype = device, dtype

    def load_weights(self) -> Adapter:
        """Load the weights if they are not loaded yet (see fgvr.models.load_adapter)."""
        if self.model is None:
            from .loading import load_model

            self.model = load_model(self)
        return self

    def checkpoint_config(self) -> dict:
        """config.json of the checkpoint folder (empty for a model built in memory)."""
        import json

        config = self.path / "config.json"
        return json.loads(config.read_text()) if config.is_file() else {}

    @property
    def architecture(self) -> str:
        if self.model is not None:
            return type(self.model).__name__
        return (self.checkpoint_config().get("architectures") or [""])[0]

    @property
    def is_demo(self) -> bool:
        if self.model is not None:
            return bool(getattr(self.model.config, "fgvr_demo", False))
        return bool(self.checkpoint_config().get("fgvr_demo", False))

    def preprocess(self, images: list) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def without_model(self) -> Adapter:
        """A copy for DataLoader workers: preprocessing needs the processors, never the weights
        (so nothing large or on the GPU is pickled into a spawned worker)."""
        import copy

        lite = copy.copy(self)
        lite.model = None
        return lite

    def encode_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def hidden_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def to_device(self, tensor: torch.Tensor, floating: bool = True) -> torch.Tensor:
        if floating and tensor.is_floating_point():
            return tensor.to(self.device, self.dtype, non_blocking=True)
        return tensor.to(self.device, non_blocking=True)

    def _out(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Float32 CPU copies. Under ``deferred_readback`` on a GPU the copies are only queued
        (into pinned memory) and the caller waits on ``readback_event()`` before reading them:
        extraction queues the next batch first, so the GPU never idles while rows are written."""
        queued = self.deferred_readback and self.device.type == "cuda"
        return {k: v.detach().float().to("cpu", non_blocking=queued) for k, v in features.items()}

    def readback_event(self):
        """A CUDA event after everything queued so far (None on the CPU: nothing is queued)."""
        if self.device.type != "cuda":
            return None
        event = torch.cuda.Event()
        event.record()
        return event


def append_eos(tokens: torch.Tensor, mask: torch.Tensor, eos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put ``eos`` (D,) right after each row's last valid token; returns embeddings and mask."""
    b, t, d = tokens.shape
    out = torch.cat([tokens, torch.zeros(b, 1, d, dtype=tokens.dtype, device=tokens.device)], 1)
    lengths = mask.long().sum(1)
    out[torch.arange(b, device=tokens.device), lengths] = eos.to(tokens.dtype)
    new_mask = torch.cat([mask.bool(), torch.zeros(b, 1, dtype=torch.bool, device=mask.device)], 1)
    new_mask[torch.arange(b, device=mask.device), lengths] = True
    return out, new_mask.long()


def eos_padded(tokenizer, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids of each text with EOS appended, right-padded into one batch; the attention
    mask; and the pooling mask: content tokens and the appended EOS, not the special tokens the
    tokenizer adds itself (BOS)."""
    rows = []
    for text in texts:
        enc = tokenizer(text, return_special_tokens_mask=True)
        rows.append((enc["input_ids"] + [tokenizer.eos_token_id], [1 - m for m in enc["special_tokens_mask"]] + [1]))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(texts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    pool = torch.zeros((len(texts), width), dtype=torch.long)
    for row, (seq, content) in enumerate(rows):
        ids[row, :len(seq)], mask[row, :len(seq)], pool[row, :len(seq)] = torch.tensor(seq), 1, torch.tensor(content)
    return ids.to(device), mask.to(device), pool.to(device)


class VLMAdapter(Adapter):
    """Dual encoders: ``vision.mean`` (mean of the vision tower's last hidden states over real
    patches) and ``embed`` (the model's own image embedding); texts give ``embed``."""

    kind = "vlm"
    image_keys = ("vision.mean", "embed")
    text_keys = ("embed",)

    def hidden_sizes(self):
        cfg = self.model.config
        return {"vision.mean": cfg.vision_config.hidden_size, "embed": self.embed_size()}

    def embed_size(self) -> int:
        return self.model.config.vision_config.hidden_size
