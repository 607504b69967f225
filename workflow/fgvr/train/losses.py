"""Stage-1 losses of the paper (REFERENCE.md section 3), pure functions of L2-normalised tensors.

Shapes: B samples in the batch, D dimensions, K hard negatives per sample. On several GPUs the
training loop gathers every GPU's rows first (``gather``: the other GPUs' rows as constants, this
GPU's own with their gradients) and each GPU computes the whole batch's loss: summed over GPUs,
the gradients are the single-process ones. ``labels`` mark rows of one class: a name (or any
class-level text) of another row of the same class is the same thing, not a negative, so those
entries are masked out.

Hard negatives come two ways: ``extra`` (B, K, D), each row's own K; or a ``pool`` (P, D) that
every row is scored against (the official collator's one flat list of the batch's B x K), with
``pool_labels`` (P,) masking the entries of a row's own class.

- ``oa``: object <-> its image's description; InfoNCE over the batch plus the hard-negative
  descriptions (object -> description), both directions.
- ``ac``: description <-> category name, symmetric; hard-negative names in the description ->
  name direction and, as the official loss does, hard-negative descriptions in the name ->
  description direction.
- ``cc``: category name against the batch's other names and the hard-negative names; row i's
  positive is i (the official code scores every row against index 0, right only for row 0:
  ``official_cc`` keeps that behaviour for comparison).
- ``lm``: next-token cross-entropy over the positions whose label is not -100.

``reduction``: "mean" over the batch's rows (tokens for ``lm``) or "sum", which the training
loop divides by the global batch's rows (tokens), so any split over GPUs and micro-batches adds
up to the same loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def temperature(log_t: torch.Tensor, low: float = 0.001, high: float = 0.5) -> torch.Tensor:
    """The learnable temperature exp(log_t), clamped to [low, high]."""
    return log_t.exp().clamp(low, high)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, t: torch.Tensor, offset: int = 0,
             extra: torch.Tensor | None = None, same: torch.Tensor | None = None,
             pool: torch.Tensor | None = None, pool_same: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of row i of ``queries`` (B, D) picking key ``offset + i`` among ``keys``
    (N, D), its own ``extra`` keys (B, K, D) and the shared ``pool`` (P, D). ``same`` (B, N) true
    where a key is the positive's equal (same class), masked out except the positive itself;
    ``pool_same`` (B, P) likewise for the pool."""
    logits = queries @ keys.T / t
    target = torch.arange(len(queries), device=queries.device) + offset
    if same is not None:  # masked after the temperature: -inf / t would give the temperature NaN gradients
        mask = same.clone()
        mask[torch.arange(len(queries)), target] = False
        logits = logits.masked_fill(mask, float("-inf"))
    if extra is not None:
        logits = torch.cat([logits, torch.einsum("bd,bkd->bk", queries, extra) / t], 1)
    if pool is not None:
        pooled = queries @ pool.T / t
        if pool_same is not None:
            pooled = pooled.masked_fill(pool_same, float("-inf"))
        logits = torch.cat([logits, pooled], 1)
    return F.cross_entropy(logits, target, reduction=reduction)


def same_class(labels: torch.Tensor, all_labels: torch.Tensor) -> torch.Tensor:
    return labels[:, None] == all_labels[None, :]


def oa(objects, descriptions, t, negatives=None, pool=None, reduction: str = "mean"):
    """Object <-> description (each image has its own description: no class masking); the
    hard-negative descriptions (own ``negatives`` or a ``pool``) in the object -> description
    direction."""
    return 0.5 * (info_nce(objects, descriptions, t, 0, negatives, pool=pool, reduction=reduction)
                  + info_nce(descriptions, objects, t, reduction=reduction))


def ac(descriptions, names, labels, t, negative_names=None, negative_descriptions=None, pool_names=None,
       pool_descriptions=None, pool_labels=None, reduction: str = "mean"):
    """Description <-> its class name, symmetric; names of the same class are not negatives.
    Description -> name also against the hard-negative names (own or pooled), name ->
    description against the hard-negative descriptions when given (the official loss)."""
    same = same_class(labels, labels)
    pool_same = same_class(labels, pool_labels) if pool_labels is not None else None
    to_names = info_nce(descriptions, names, t, 0, negative_names, same, pool_names, pool_same, reduction)
    to_descriptions = info_nce(names, descriptions, t, 0, negative_descriptions, same, pool_descriptions, pool_same,
                               reduction)
    return 0.5 * (to_names + to_descriptions)


def cc(names, labels, t, negative_names=None, pool_names=None, pool_labels=None, reduction: str = "mean"):
    """Each name against the other classes' names in the batch and the hard-negative names."""
    pool_same = same_class(labels, pool_labels) if pool_labels is not None else None
    return info_nce(names, names, t, 0, negative_names, same_class(labels, labels), pool_names, pool_same, reduction)


def official_cc(names, t, negative_names):
    """The official code's L_cc: every row scored against target 0 (for comparison only)."""
    logits = torch.cat([names @ names.T, torch.einsum("bd,bkd->bk", names, negative_names)], 1)
    return F.cross_entropy(logits / t, torch.zeros(len(names), dtype=torch.long, device=names.device))


def lm(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy: position p predicts label p+1; -100 labels are not scored."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE, reduction=reduction)


def scored_tokens(labels: torch.Tensor) -> int:
    """How many tokens ``lm`` scores in ``labels``."""
    return int((labels[:, 1:] != IGNORE).sum())


def gather(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Every process's rows of ``x`` in rank order (the others' as constants, this process's own
    with their gradients), and where this process's rows start; ``x`` itself and 0 when not
    distributed. Processes may hold different numbers of rows, none included: sizes are
    exchanged first and rows padded to the largest. Backward needs no collective, so a process
    whose loss does not reach its rows cannot leave the others waiting."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    size, rank = dist.get_world_size(), dist.get_rank()
    counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([len(x)], dtype=torch.long, device=x.device))
    counts = [int(c) for c in counts]
    padded = torch.zeros((max(counts), *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[:len(x)] = x.detach()
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded)
    rows = [part[:n] for part, n in zip(parts, counts)]
    rows[rank] = x
    return torch.cat(rows), sum(counts[:rank])
