"""Model adapters. A checkpoint's config.json (its model type, and its vision tower's) picks its
row of the family table; every MLLM runs through the one generic adapter (mllm.py), each dual
encoder through its own small one.

- families.py: the table (data only; the config check reads it)
- loading.py: family routing, weights, processors, device and dtype
- adapter.py: the interface and poolings; mllm.py: representations; chat.py: chat and scoring
- demo.py: tiny random-init checkpoints; fetch.py: hub downloads

Torch is imported only when a model is loaded, so the config check stays fast.
"""
from __future__ import annotations

from .families import BY_NAME, FAMILIES
from .loading import adapter_class, family_of, load_adapter, load_model
