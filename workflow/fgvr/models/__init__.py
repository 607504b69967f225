"""Model adapters: a checkpoint's ``architectures`` entry picks its family's file.

Adding a family is adding one module with an Adapter subclass and one line here.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from ..io import FgvrError
from .base import Adapter, pick_device, pick_dtype

FAMILIES = {
    "Idefics2ForConditionalGeneration": "fgvr.models.idefics2:Idefics2Adapter",
    "SiglipModel": "fgvr.models.siglip:SiglipAdapter",
}


def adapter_class(path: str | Path) -> type[Adapter]:
    """The adapter class for the checkpoint folder ``path``, from its config.json."""
    config = Path(path) / "config.json"
    if not config.exists():
        raise FgvrError(f"{config}: not found; is {path} a Hugging Face checkpoint folder?")
    architectures = json.loads(config.read_text()).get("architectures") or []
    for arch in architectures:
        if arch in FAMILIES:
            module, name = FAMILIES[arch].split(":")
            return getattr(importlib.import_module(module), name)
    raise FgvrError(f"{config}: architectures {architectures} are not supported; "
                    f"supported: {sorted(FAMILIES)}")


def load_adapter(path: str | Path, kind: str | None = None, dtype: str = "auto", device: str = "auto",
                 trust_remote_code: bool = False) -> Adapter:
    """Load a checkpoint folder through from_pretrained and wrap it in its family's adapter."""
    import transformers

    cls = adapter_class(path)
    if kind is not None and cls.kind != kind:
        raise FgvrError(f"{path}: is a {cls.kind} ({cls.__name__}) but the config says kind: {kind}")
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    auto = getattr(transformers, cls.auto_class)
    model = auto.from_pretrained(path, dtype=torch_dtype, trust_remote_code=trust_remote_code).to(dev).eval()
    processor = transformers.AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    return cls(path, model, processor, dev, torch_dtype)
