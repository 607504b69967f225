"""One training stage: LoRA (peft) on the adapter's model, AdamW with a linear schedule and
warm-up, gradient accumulation to the global batch, resumable checkpoints, a log and a plot,
and the LoRA merged into a new Hugging Face checkpoint at the end.

Resuming: every ``checkpoint_every`` optimizer steps the LoRA weights, the temperature, the
optimizer, the scheduler, the RNG state and the step are saved (atomically); a rerun with the
same settings and data continues from there and ends with the same weights as a run that was
never stopped. The data order is a seeded permutation per epoch, so the step says where the
data stands.

Several GPUs (``accelerate launch``, one process each): every process takes its share of each
micro-batch and gradients are averaged over processes before each step; the contrastive
losses see every process's rows when ``gather`` is on (the official code uses each GPU's own
batch alone: ``gather: false``).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..io import FgvrError, write_csv
from . import losses
from .data import GEN_PROMPT

log = logging.getLogger("fgvr.train")


@dataclass
class Settings:
    batch_size: int = 64  # global, reached by accumulation
    micro_batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 60
    epochs: int = 1
    weight_decay: float = 0.01
    weights: dict = field(default_factory=lambda: {"gen": 1.0, "oa": 0.5, "ac": 0.5, "cc": 0.5})
    temperature: float = 0.07
    checkpoint_every: int = 50
    seed: int = 0
    gradient_checkpointing: bool = False
    gather: bool = True

    @classmethod
    def of(cls, options: dict) -> "Settings":
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def attach_lora(adapter, lora: dict, seed: int):
    """Wrap the adapter's model with LoRA adapters (peft) on its family's modules; the rest frozen."""
    from peft import LoraConfig, get_peft_model

    if not adapter.trainable:
        raise FgvrError(f"{adapter.path}: fine-tuning {type(adapter).__name__} models is not supported yet "
                        "(supported: Idefics2)")
    torch.manual_seed(seed)  # LoRA's A matrices start random
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                        target_modules=adapter.lora_modules, bias="none")
    return get_peft_model(adapter.model, config)


def stage1_loss(adapter, micro, log_t, weights: dict, gather: bool) -> dict[str, torch.Tensor]:
    from ..extract import load_image

    images = [load_image(s.path) for s in micro]
    objects = F.normalize(adapter.object_states(adapter.preprocess(images)).float(), dim=-1)
    b, k = len(micro), len(micro[0].negative_names)
    texts = ([s.description for s in micro] + [s.name for s in micro]
             + [t for s in micro for t in s.negative_descriptions] + [t for s in micro for t in s.negative_names])
    unique = list(dict.fromkeys(texts))  # names repeat within a batch: each text through the LLM once
    where = {text: i for i, text in enumerate(unique)}
    states = F.normalize(adapter.text_states(unique).float(), dim=-1)[[where[t] for t in texts]]
    descriptions, names = states[:b], states[b:2 * b]
    neg_descriptions = states[2 * b:2 * b + b * k].view(b, k, -1)
    neg_names = states[2 * b + b * k:].view(b, k, -1)
    labels = torch.tensor([s.label for s in micro], device=states.device)
    t = losses.temperature(log_t)
    if gather:
        all_objects, offset = losses.gather(objects)
        all_descriptions, _ = losses.gather(descriptions)
        all_names, _ = losses.gather(names)
        all_labels, _ = losses.gather(labels)
    else:
        all_objects, all_descriptions, all_names, all_labels, offset = objects, descriptions, names, labels, 0
    inputs = adapter.answer_batch([GEN_PROMPT.format(super=s.super) for s in micro], images,
                                  [s.description for s in micro])
    parts = {
        "gen": losses.lm(adapter.answer_logits(inputs), inputs["labels"]),
        "oa": losses.oa(objects, descriptions, t, neg_descriptions, all_objects, all_descriptions, offset),
        "ac": losses.ac(descriptions, names, labels, t, neg_names, all_descriptions, all_names, all_labels, offset),
        "cc": losses.cc(names, labels, t, neg_names, all_names, all_labels, offset),
    }
    parts["total"] = sum(weights[key] * parts[key] for key in ("gen", "oa", "ac", "cc"))
    return parts


def stage2_loss(adapter, micro) -> dict[str, torch.Tensor]:
    from ..extract import load_image

    inputs = adapter.answer_batch([s.prompt for s in micro], [load_image(s.path) for s in micro],
                                  [s.answer for s in micro])
    return {"total": losses.lm(adapter.answer_logits(inputs), inputs["labels"])}


def train_stage(adapter, samples: list, stage: int, settings: Settings, lora: dict, work_dir: str | Path,
                identity: str = "", progress: bool = True, stop_after: int | None = None):
    """Train ``adapter`` (its model gets LoRA) on ``samples`` for one stage; returns the peft
    model. ``work_dir`` receives checkpoint.pt, log.csv, loss.png. ``identity``: what the data
    and the starting weights are (a checkpoint made from others is not resumed).
    ``stop_after``: stop (as a kill would) after that many steps; for tests."""
    from transformers import get_linear_schedule_with_warmup

    from ..store import fingerprint

    if not samples:
        raise FgvrError(f"stage {stage}: no training samples")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rank, size = world()
    peft_model = attach_lora(adapter, lora, settings.seed)
    if settings.gradient_checkpointing:
        adapter.model.gradient_checkpointing_enable()
    adapter.model.train()
    log_t = torch.nn.Parameter(torch.tensor(math.log(settings.temperature), device=adapter.device))
    lora_params = [p for p in peft_model.parameters() if p.requires_grad]
    groups = [{"params": lora_params, "weight_decay": settings.weight_decay}]
    if stage == 1:
        groups.append({"params": [log_t], "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    per_epoch = math.ceil(len(samples) / settings.batch_size)
    total = per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, min(settings.warmup_steps, total), total)
    key = fingerprint(stage=stage, settings=vars(settings), lora=lora, identity=identity, n=len(samples), world=size)
    state = {"step": 0, "rows": []}
    path = work / "checkpoint.pt"
    if path.exists():
        saved = torch.load(path, map_location=adapter.device, weights_only=False)
        if saved.get("fingerprint") == key:
            _restore(saved, lora_params, log_t, optimizer, scheduler)
            state = {"step": saved["step"], "rows": saved["rows"]}
            log.info("stage %d: resuming at step %d of %d", stage, state["step"], total)
        else:
            log.info("stage %d: %s was made with other settings or data; starting over", stage, path)
    bar = tqdm(total=total, initial=state["step"], desc=f"stage {stage}", unit="step", disable=not progress or rank)
    for step in range(state["step"], total):
        epoch, index = divmod(step, per_epoch)
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(samples))
        batch = [samples[i] for i in order[index * settings.batch_size:(index + 1) * settings.batch_size]]
        sums: dict[str, float] = {}
        for start in range(0, len(batch), settings.micro_batch_size):
            micro = batch[start:start + settings.micro_batch_size]
            mine = micro[rank::size] if size > 1 else micro
            parts = (stage1_loss(adapter, mine, log_t, settings.weights, settings.gather) if stage == 1
                     else stage2_loss(adapter, mine))
            (parts["total"] * (len(mine) * size / len(batch))).backward()
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(micro) / len(batch)
        _average_gradients(lora_params + ([log_t] if stage == 1 else []), size)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        row = {"step": step + 1, "loss": sums.pop("total"), "lr": scheduler.get_last_lr()[0]}
        if stage == 1:
            row |= {f"loss_{k}": v for k, v in sums.items()} | {"temperature": losses.temperature(log_t).item()}
        state["rows"].append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        bar.update(1)
        done = step + 1
        if rank == 0 and (done % settings.checkpoint_every == 0 or done == total):
            _save(path, key, done, state["rows"], lora_params, log_t, optimizer, scheduler)
        if stop_after is not None and done >= stop_after and done < total:
            bar.close()
            raise KeyboardInterrupt(f"stage {stage}: stopped after step {done} (stop_after)")
    bar.close()
    adapter.model.eval()
    if rank == 0:
        frame = pd.DataFrame(state["rows"])
        write_csv(work / "log.csv", frame)
        plot_losses(frame, work / "loss.png", f"stage {stage}" + (" (demo model)" if adapter.is_demo else ""))
    return peft_model


def _average_gradients(params, size: int) -> None:
    if size == 1:
        return
    import torch.distributed as dist

    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= size


def _save(path: Path, key: str, step: int, rows, params, log_t, optimizer, scheduler) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save({"fingerprint": key, "step": step, "rows": rows, "params": [p.detach().cpu() for p in params],
                "log_t": log_t.detach().cpu(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, tmp)
    os.replace(tmp, path)


def _restore(saved: dict, params, log_t, optimizer, scheduler) -> None:
    with torch.no_grad():
        for p, value in zip(params, saved["params"]):
            p.copy_(value.to(p.device, p.dtype))
        log_t.copy_(saved["log_t"].to(log_t.device))
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"])
    if saved.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])


def plot_losses(frame: pd.DataFrame, out: str | Path, title: str) -> None:
    """The training curves: total loss and, in stage 1, its four parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    parts = [c for c in frame.columns if c == "loss" or c.startswith("loss_")]
    long = frame.melt(id_vars="step", value_vars=parts, var_name="loss", value_name="value")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="step", y="value", hue="loss", ax=ax)
    ax.set(title=title, xlabel="optimizer step", ylabel="loss")
    fig.tight_layout()
    from ..io import atomic_path

    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def save_merged(peft_model, adapter, out_dir: str | Path) -> Path:
    """Merge the LoRA weights into the model and save it, with its processor, as a Hugging Face
    checkpoint folder that every later stage loads like any other (atomically)."""
    from ..io import atomic_path

    merged = peft_model.merge_and_unload()
    with atomic_path(out_dir) as tmp:
        merged.save_pretrained(tmp)
        adapter.processor.save_pretrained(tmp)
    adapter.model = merged
    return Path(out_dir)
