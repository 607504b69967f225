"""Stage-1 losses of the paper (REFERENCE.md section 3), pure functions of L2-normalised tensors.

Shapes: B samples in the batch (their keys may be gathered from every GPU: ``keys`` then hold
all of them and ``offset`` says where this GPU's rows start), D dimensions, K hard negatives
per sample. ``labels`` mark rows of one class: a name (or any class-level text) of another row
of the same class is the same thing, not a negative, so those entries are masked out.

- ``oa``: object <-> its image's description; InfoNCE over the batch plus each object's
  hard-negative descriptions, both directions.
- ``ac``: description <-> category name, symmetric, with hard-negative names.
- ``cc``: category name against the batch's other names and its hard-negative names; row i's
  positive is i (the official code scores every row against index 0, right only for row 0:
  ``official_cc`` keeps that behaviour for comparison).
- ``lm``: next-token cross-entropy over the positions whose label is not -100.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def temperature(log_t: torch.Tensor, low: float = 0.001, high: float = 0.5) -> torch.Tensor:
    """The learnable temperature exp(log_t), clamped to [low, high]."""
    return log_t.exp().clamp(low, high)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, t: torch.Tensor, offset: int = 0,
             extra: torch.Tensor | None = None, same: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of row i of ``queries`` (B, D) picking key ``offset + i`` among ``keys``
    (N, D) and its own ``extra`` keys (B, K, D). ``same`` (B, N) true where a key is the
    positive's equal (same class), masked out except the positive itself."""
    logits = queries @ keys.T / t
    target = torch.arange(len(queries), device=queries.device) + offset
    if same is not None:  # masked after the temperature: -inf / t would give the temperature NaN gradients
        mask = same.clone()
        mask[torch.arange(len(queries)), target] = False
        logits = logits.masked_fill(mask, float("-inf"))
    if extra is not None:
        logits = torch.cat([logits, torch.einsum("bd,bkd->bk", queries, extra) / t], 1)
    return F.cross_entropy(logits, target)


def same_class(labels: torch.Tensor, all_labels: torch.Tensor) -> torch.Tensor:
    return labels[:, None] == all_labels[None, :]


def oa(objects, descriptions, t, negatives=None, all_objects=None, all_descriptions=None, offset: int = 0):
    """Object <-> description (each image has its own description: no class masking)."""
    all_objects = objects if all_objects is None else all_objects
    all_descriptions = descriptions if all_descriptions is None else all_descriptions
    return 0.5 * (info_nce(objects, all_descriptions, t, offset, negatives)
                  + info_nce(descriptions, all_objects, t, offset))


def ac(descriptions, names, labels, t, negative_names=None, all_descriptions=None, all_names=None,
       all_labels=None, offset: int = 0):
    """Description <-> its class name, symmetric; names of the same class are not negatives."""
    all_descriptions = descriptions if all_descriptions is None else all_descriptions
    all_names = names if all_names is None else all_names
    all_labels = labels if all_labels is None else all_labels
    same = same_class(labels, all_labels)
    return 0.5 * (info_nce(descriptions, all_names, t, offset, negative_names, same)
                  + info_nce(names, all_descriptions, t, offset, same=same))


def cc(names, labels, t, negative_names, all_names=None, all_labels=None, offset: int = 0):
    """Each name against the other classes' names in the batch and its hard-negative names."""
    all_names = names if all_names is None else all_names
    all_labels = labels if all_labels is None else all_labels
    return info_nce(names, all_names, t, offset, negative_names, same_class(labels, all_labels))


def official_cc(names, t, negative_names):
    """The official code's L_cc: every row scored against target 0 (for comparison only)."""
    logits = torch.cat([names @ names.T, torch.einsum("bd,bkd->bk", names, negative_names)], 1)
    return F.cross_entropy(logits / t, torch.zeros(len(names), dtype=torch.long, device=names.device))


def lm(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: position p predicts label p+1; -100 labels are not scored."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE)


def gather(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All GPUs' rows of ``x`` (with gradients flowing back to this GPU's), and where this GPU's
    rows start; ``x`` itself and 0 when not distributed."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather

    parts = all_gather(x.contiguous())
    return torch.cat(parts), dist.get_rank() * len(x)
