"""The interface every model family implements, and device / dtype choice."""
from __future__ import annotations

from pathlib import Path

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 on a GPU and float32 on the CPU (CPU bf16 matmuls are slow and lossy)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of ``hidden`` (B, T, D) where ``mask`` (B, T) is true."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class Adapter:
    """One model family behind one interface.

    ``preprocess`` runs on the CPU (in DataLoader workers) and must not touch the model;
    ``encode_images`` / ``encode_texts`` return float32 CPU tensors (B, D) keyed by
    representation name (DESIGN.md: vision.mean, connector.mean, llm.last, llm.mean, embed).
    """

    kind: str = ""
    image_keys: tuple[str, ...] = ()
    text_keys: tuple[str, ...] = ()

    def __init__(self, path: str | Path, model, processor, device: torch.device, dtype: torch.dtype):
        self.path, self.model, self.processor = Path(path), model, processor
        self.device, self.dtype = device, dtype

    @property
    def is_demo(self) -> bool:
        return bool(getattr(self.model.config, "fgvr_demo", False))

    def preprocess(self, images: list) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def hidden_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    @staticmethod
    def _out(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.detach().float().cpu() for k, v in features.items()}
