"""Model adapters: a checkpoint's ``architectures`` entry picks its family's file.

Torch is imported only when a model is loaded, so the config check stays fast.

Adding a family is one module with an Adapter subclass and one row in families.FAMILIES.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..io import FgvrError
from .families import BY_ARCHITECTURE, FAMILIES  # noqa: F401  (the registry, re-exported)


def adapter_class(path: str | Path) -> type:
    """The adapter class for the checkpoint folder ``path``, from its config.json."""
    config = Path(path) / "config.json"
    if not config.exists():
        raise FgvrError(f"{config}: not found; is {path} a Hugging Face checkpoint folder?")
    settings = json.loads(config.read_text())
    architectures = settings.get("architectures") or []
    for arch in architectures:
        if arch in BY_ARCHITECTURE:
            family = BY_ARCHITECTURE[arch]
            tower = (settings.get("vision_config") or {}).get("model_type")
            if family.vision_types and tower not in family.vision_types:
                raise FgvrError(f"{config}: {arch} with a {tower!r} vision tower is not supported (the {family.name} "
                                f"adapter reads {list(family.vision_types)} towers; another tower can pack several "
                                "images into one sequence)")
            return family.adapter_class()
    raise FgvrError(f"{config}: architectures {architectures} are not supported; "
                    f"supported: {sorted(BY_ARCHITECTURE)}")


def load_adapter(path: str | Path, kind: str | None = None, dtype: str = "auto", device: str = "auto",
                 trust_remote_code: bool = False, weights: bool = True):
    """Wrap a checkpoint folder in its family's adapter: image processor and tokenizer now, the
    weights through from_pretrained now or, with ``weights=False``, on ``adapter.load_weights()``
    (extraction starts its preprocessing workers first, so they fork from a small process and
    work while the weights load)."""
    import transformers

    from .base import pick_device, pick_dtype

    cls = adapter_class(path)
    if kind is not None and cls.kind != kind:
        raise FgvrError(f"{path}: is a {cls.kind} ({cls.__name__}) but the config says kind: {kind}")
    dev = pick_device(device)
    # image processor and tokenizer, not AutoProcessor: a processor may also want a video
    # processor (torchvision) that extraction never uses
    image_processor = transformers.AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    adapter = cls(path, None, image_processor, tokenizer, dev, pick_dtype(dtype, dev))
    adapter.trust_remote_code = trust_remote_code
    return adapter.load_weights() if weights else adapter


def load_model(adapter):
    """The adapter's checkpoint through its family's Auto class, on its device, in eval mode."""
    import transformers

    auto = getattr(transformers, adapter.auto_class)
    quantization = getattr(adapter, "quantization", None)  # 4-bit (QLoRA): placed on the GPU as it loads
    model = auto.from_pretrained(adapter.path, dtype=adapter.dtype,
                                 attn_implementation=attention_implementation(adapter.device, adapter.dtype),
                                 trust_remote_code=adapter.trust_remote_code, quantization_config=quantization,
                                 **({"device_map": {"": adapter.device}} if quantization is not None else {}))
    return (model if quantization is not None else model.to(adapter.device)).eval()


def attention_implementation(device, dtype) -> str:
    """flash_attention_2 for bf16/fp16 on a GPU where the package is installed (it has no
    float32 kernels), else PyTorch SDPA."""
    import importlib.util

    import torch

    half = dtype in (torch.bfloat16, torch.float16)
    if device.type == "cuda" and half and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
