"""One training stage: LoRA (peft) on the adapter's model, AdamW with a linear schedule and
warm-up, gradient accumulation to the global batch, gradient clipping, resumable checkpoints, a
log and a plot, and the LoRA merged into a new Hugging Face checkpoint at the end.

Batches: ``batch_size`` is global, reached by ``micro_batch_size`` (per process) x processes x
accumulation steps. Each global micro-batch is split in rank order, ``micro_batch_size`` rows a
process; a short last batch leaves some processes fewer rows or none, and they still take part
in every collective. Every loss is normalised over the global batch: rows for the contrastive
terms (per global micro-batch, since its in-batch negatives span one), label tokens for the LM
terms (L_gen per global micro-batch; stage 2 over the whole optimizer batch), so N processes
compute the step of one process at the same global micro-batch (tests/test_distributed.py).

Several processes (``accelerate launch`` on GPUs, torchrun with gloo on CPUs): with ``gather``
each process gathers every process's rows (others' as constants) and computes the whole micro-
batch's contrastive loss, with gradients into its own rows; gradients are then summed over
processes (a temperature's, which every process computes whole, averaged). ``gather: false``:
each process's own rows alone (the official code).

Resuming: every ``checkpoint_every`` optimizer steps the LoRA weights, the temperatures, the
optimizer, the scheduler, the step, the log and every process's RNG states are saved (atomically,
by the first process). A rerun continues only from a checkpoint made from the same data (by
content), starting weights, settings and process count, and ends with the weights of a run that
was never stopped; anything else starts from step 0, saying what changed. Checkpoints load on
the CPU (a GPU run restores CPU RNG states as the CPU's, each process its own).
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
BILLION = 10 ** 9
LORA_INIT = {"gaussian": "gaussian", "kaiming": True}
AUTOCAST = {"none": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Settings:
    batch_size: int = 64  # global: micro_batch_size x processes x accumulation steps
    micro_batch_size: int = 8  # per process
    lr: float = 2e-4
    warmup_steps: int = 60
    epochs: int = 1
    weight_decay: float = 0.01
    weights: dict = field(default_factory=lambda: {"gen": 1.0, "oa": 0.5, "ac": 0.5, "cc": 0.5})
    temperature: float = 0.07
    seed: int = 0
    gather: bool = True
    negatives: str = "pooled"  # pooled (the official flat list) | own
    ac_negative_descriptions: bool = True  # L_ac's name -> description direction (the official loss)
    temperatures: str = "two"  # two (official ia_temp for L_oa/L_cc, ac_temp for L_ac) | one
    # the official ia_temp / ac_temp are parameters written as 0.07 that never train (peft's
    # add_adapter leaves only lora_ parameters trainable): frozen by default
    learn_temperature: bool = False
    # rows that see each other in the contrastive terms (in-batch negatives and the pooled hard
    # negatives): consecutive groups of the global micro-batch; 0: the whole micro-batch. The
    # official losses run inside each GPU's forward on its 2 rows: 2 reproduces them on any layout
    contrastive_group: int = 0
    autocast: str = "none"  # none | float16 (the official Trainer's fp16 mixed precision) | bfloat16
    lm_loss: str = "sequence"  # sequence (official labels = input_ids) | answer
    max_grad_norm: float = 1.0  # 0: no clipping
    gradient_checkpointing: bool | str = "auto"  # auto: on from a billion parameters
    prompt_format: int = 0  # fgvr.prompts.PROMPT_FORMAT of the stage-2 prompts
    # speed and bookkeeping: not part of what a checkpoint must match
    checkpoint_every: int = 50
    num_workers: int = 0
    collective_timeout_min: int = 30


    @classmethod
    def of(cls, options: dict) -> "Settings":
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def results(self) -> dict:
        """What decides the trained weights (a checkpoint resumes only these)."""
        from ..plan import FINETUNE_SPEED

        return {k: v for k, v in vars(self).items() if k not in FINETUNE_SPEED}


def world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over processes (itself when alone)."""
    if world()[1] > 1:
        import torch.distributed as dist

        dist.all_reduce(values)
    return values


def attach_lora(adapter, lora: dict, seed: int):
    """Wrap the adapter's model with LoRA adapters (peft) on its family's modules (the LLM's and
    the connector's linears; modules the table trains whole); the rest frozen."""
    from peft import LoraConfig, get_peft_model

    targets = adapter.lora_targets()
    log.info("LoRA on %d modules of %s (%d of the language model, %d of the connector)%s", len(targets["llm"]) +
             len(targets["connector"]), adapter.family.name, len(targets["llm"]), len(targets["connector"]),
             f"; trained whole: {targets['whole']}" if targets["whole"] else "")
    if not adapter.family.trained_in_tests:
        log.warning("%s: the %s family's fine-tuning is not tested (not in the family table); check the adapted "
                    "modules above", adapter.path, adapter.family.name)
    torch.manual_seed(seed)  # LoRA's A matrices start random
    # gaussian (the official init_lora_weights): A ~ N(0, 1/r), B = 0; kaiming (peft's default):
    # A uniform at 1/sqrt(fan-in), some 14x smaller on a 4096-wide LLM, so a rate moves it less
    init = lora.get("init", "gaussian")
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                        target_modules=targets["llm"] + targets["connector"], init_lora_weights=LORA_INIT[init],
                        modules_to_save=targets["whole"] or None, bias="none")
    return get_peft_model(adapter.model, config)


# ------------------------------------------------------------------------------ inputs (DataLoader workers)

class _Micro(torch.utils.data.Dataset):
    """Item i: this process's rows of micro-batch i as the processor's CPU tensors (images read
    and preprocessed here, in DataLoader workers); None where the process has no rows."""

    def __init__(self, adapter, micros: list[list], stage: int, scope: str):
        self.adapter, self.micros, self.stage, self.scope = adapter, micros, stage, scope

    def __len__(self):
        return len(self.micros)

    def __getitem__(self, i):
        from ..extract import load_image

        micro = self.micros[i]
        if not micro:
            return i, None
        images = [load_image(s.path) for s in micro]
        if self.stage == 2:
            return i, self.adapter.answer_encode([s.prompt for s in micro], images, [s.answer for s in micro],
                                                 self.scope)
        gen = self.adapter.answer_encode([GEN_PROMPT.format(super=s.super) for s in micro], images,
                                         [s.description for s in micro], self.scope)
        return i, {"pixels": self.adapter.preprocess(images), "gen": gen}


def _as_is(item):
    return item


# ------------------------------------------------------------------------------ losses of one micro-batch

def lm_sum(adapter, inputs: dict | None) -> tuple[torch.Tensor, int]:
    """Summed next-token loss of this process's rows and how many tokens it scores."""
    if inputs is None:
        return torch.zeros((), device=adapter.device), 0
    inputs = {k: adapter.to_device(v) for k, v in inputs.items()}
    return losses.lm(adapter.answer_logits(inputs), inputs["labels"], "sum"), losses.scored_tokens(inputs["labels"])


def contrastive_sums(objects, descriptions, names, neg_descriptions, neg_names, labels, neg_labels, t_ia, t_ac,
                     settings: Settings) -> dict[str, torch.Tensor]:
    """L_oa, L_ac and L_cc summed over one group's rows, which see only each other: in-batch
    negatives and (pooled) the group's B x K hard negatives, the official collator's flat list."""
    dim = objects.shape[-1]
    if settings.negatives == "pooled":
        own_descriptions = own_names = None
        pool_descriptions, pool_names = neg_descriptions.reshape(-1, dim), neg_names.reshape(-1, dim)
        pool_labels = neg_labels.reshape(-1)
    else:  # each row against its own K
        own_descriptions, own_names = neg_descriptions, neg_names
        pool_descriptions = pool_names = pool_labels = None
    with_descriptions = settings.ac_negative_descriptions
    return {
        "oa": losses.oa(objects, descriptions, t_ia, own_descriptions, pool=pool_descriptions, reduction="sum"),
        "ac": losses.ac(descriptions, names, labels, t_ac, own_names,
                        negative_descriptions=own_descriptions if with_descriptions else None,
                        pool_names=pool_names, pool_descriptions=pool_descriptions if with_descriptions else None,
                        pool_labels=pool_labels, reduction="sum"),
        "cc": losses.cc(names, labels, t_ia, own_names, pool_names=pool_names, pool_labels=pool_labels,
                        reduction="sum"),
    }


def stage_temperatures(log_t: torch.Tensor, settings: Settings) -> torch.Tensor:
    """The temperatures a step uses: learnt, exp(log_t) clamped to [0.001, 0.5]; frozen, exactly
    ``settings.temperature`` (the official 0.07, in float64 so it is logged as written)."""
    if settings.learn_temperature:
        return losses.temperature(log_t)
    return torch.full((len(log_t),), settings.temperature, dtype=torch.float64, device=log_t.device)


def stage1_loss(adapter, micro: list, inputs: dict | None, log_t, settings: Settings, rows: int, k: int,
                dim: int) -> dict[str, torch.Tensor]:
    """This process's share of one global micro-batch of ``rows`` rows (``micro``: its own rows,
    possibly none): the weighted loss to backpropagate, and each part for the log (the contrastive
    parts once over all processes). See the module docstring for the normalisation."""
    device = adapter.device
    n = len(micro)
    gen_sum, tokens = lm_sum(adapter, inputs["gen"] if inputs else None)
    tokens = int(all_sum(torch.tensor([tokens], device=device))[0])
    if n:
        objects = F.normalize(adapter.object_states(inputs["pixels"]).float(), dim=-1)
        texts = ([s.description for s in micro] + [s.name for s in micro]
                 + [t for s in micro for t in s.negative_descriptions] + [t for s in micro for t in s.negative_names])
        unique = list(dict.fromkeys(texts))  # names repeat within a batch: each text through the LLM once
        where = {text: i for i, text in enumerate(unique)}
        states = F.normalize(adapter.text_states(unique).float(), dim=-1)[[where[t] for t in texts]]
    else:  # no rows here: empty tensors, so this process still takes part in the gathers
        objects = states = torch.zeros(0, dim, device=device)
    descriptions, names = states[:n], states[n:2 * n]
    neg_descriptions = states[2 * n:2 * n + n * k].view(n, k, dim)
    neg_names = states[2 * n + n * k:].view(n, k, dim)
    labels = torch.tensor([s.label for s in micro], dtype=torch.long, device=device)
    neg_labels = torch.tensor([s.negative_labels for s in micro], dtype=torch.long, device=device).view(n, k)
    rank, size = world()
    temperatures = stage_temperatures(log_t, settings)
    if settings.gather:
        objects, descriptions, names, neg_descriptions, neg_names, labels, neg_labels = (
            losses.gather(x)[0] for x in (objects, descriptions, names, neg_descriptions, neg_names, labels, neg_labels))
    t_ia, t_ac = temperatures[0], temperatures[-1]
    per_row = {key: torch.zeros((), device=device) for key in ("oa", "ac", "cc")}
    group = settings.contrastive_group or max(len(objects), 1)
    for start in range(0, len(objects), group):  # each group's rows see only each other
        rows_of = slice(start, start + group)
        for key, value in contrastive_sums(objects[rows_of], descriptions[rows_of], names[rows_of],
                                           neg_descriptions[rows_of], neg_names[rows_of], labels[rows_of],
                                           neg_labels[rows_of], t_ia, t_ac, settings).items():
            per_row[key] = per_row[key] + value
    parts = {key: value / rows for key, value in per_row.items()}
    parts["gen"] = gen_sum / max(tokens, 1)
    parts["total"] = sum(settings.weights[key] * parts[key] for key in ("gen", "oa", "ac", "cc"))
    # for the log: every process computed the whole contrastive loss when gathering, so count it once
    counted = rank == 0 or not settings.gather
    logged = {key: parts[key].detach() * (1.0 if key == "gen" or counted else 0.0) for key in ("gen", "oa", "ac", "cc")}
    logged["total"] = sum(settings.weights[key] * logged[key] for key in logged)
    return {"loss": parts["total"], "log": logged}


# ------------------------------------------------------------------------------ the stage

def train_stage(adapter, samples: list, stage: int, settings: Settings, lora: dict, work_dir: str | Path,
                identity: str = "", progress: bool = True, stop_after: int | None = None, on_step=None):
    """Train ``adapter`` (its model gets LoRA) on ``samples`` for one stage; returns the peft
    model. ``work_dir`` receives checkpoint.pt, log.csv, loss.png. ``identity``: what the data
    and the starting weights are, by content (a checkpoint made from others is not resumed).
    ``stop_after``: stop (as a kill would) after that many steps; ``on_step(step, params)``:
    called with the reduced gradients before each optimizer step; both for tests."""
    from transformers import get_linear_schedule_with_warmup

    from ..store import fingerprint

    if not samples:
        raise FgvrError(f"stage {stage}: no training samples")
    rank, size = world()
    per_micro = settings.micro_batch_size * size
    if settings.batch_size % per_micro:
        raise FgvrError(f"stage {stage}: batch_size {settings.batch_size} is not micro_batch_size "
                        f"{settings.micro_batch_size} x {size} process(es) x a whole number of accumulation steps")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    peft_model = attach_lora(adapter, lora, settings.seed)
    if _checkpointing(settings, adapter):
        adapter.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    adapter.model.train()
    n_temps = 2 if stage == 1 and settings.temperatures == "two" else 1
    learnt = stage == 1 and settings.learn_temperature
    log_t = torch.nn.Parameter(torch.full((n_temps,), math.log(settings.temperature), device=adapter.device),
                               requires_grad=learnt)
    lora_params = [p for p in peft_model.parameters() if p.requires_grad]
    groups = [{"params": lora_params, "weight_decay": settings.weight_decay}]
    if learnt:
        groups.append({"params": [log_t], "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=settings.lr)
    per_epoch = math.ceil(len(samples) / settings.batch_size)
    total = per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, min(settings.warmup_steps, total), total)
    parts = {"settings": fingerprint(stage=stage, settings=settings.results(), lora=lora),
             "data": fingerprint(identity=identity, samples=[vars(s) for s in samples]), "processes": size}
    key = fingerprint(**parts)
    state = {"step": 0, "rows": []}
    scaler_state = None
    path = work / "checkpoint.pt"
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("fingerprint") == key:
            _restore(saved, lora_params, log_t, optimizer, scheduler, rank)
            scaler_state = saved.get("scaler")
            state = {"step": saved["step"], "rows": saved["rows"]}
            log.info("stage %d: resuming at step %d of %d", stage, state["step"], total)
        else:
            changed = [p for p in parts if saved.get("parts", {}).get(p) != parts[p]] or ["its format"]
            log.info("stage %d: %s was made with other %s; starting over from step 0", stage, path,
                     " and ".join(changed))
    k = len(getattr(samples[0], "negative_names", []))
    dim = adapter.model.config.text_config.hidden_size
    scope = settings.lm_loss
    steps = [(step, _batch(samples, settings, per_epoch, step)) for step in range(state["step"], total)]
    mine = [_own(micro, rank, settings.micro_batch_size) for _, batch in steps for micro in _split(batch, per_micro)]
    # its own generator: the loader's worker seed must not draw from the global RNG, whose state
    # (dropout) a resumed run restores and must continue exactly as an uninterrupted one
    loader = iter(torch.utils.data.DataLoader(_Micro(adapter.without_model(), mine, stage, scope), batch_size=None,
                                              num_workers=settings.num_workers, collate_fn=_as_is,
                                              generator=torch.Generator().manual_seed(settings.seed)))
    temperatures = [log_t] if learnt else []
    reduced = lora_params + temperatures
    precision = AUTOCAST[settings.autocast]
    # float16 mixed precision (the official Trainer's fp16): the loss scaled against underflow
    scaler = torch.amp.GradScaler(adapter.device.type, enabled=precision == torch.float16)
    if scaler_state:
        scaler.load_state_dict(scaler_state)
    bar = tqdm(total=total, initial=state["step"], desc=f"stage {stage}", unit="step", disable=not progress or rank)
    for step, batch in steps:
        sums = {}
        tokens = 0
        norm = None  # stage 2: one divisor for the step's backward passes (its tokens are known at the end)
        for micro in _split(batch, per_micro):
            index, inputs = next(loader)
            with torch.autocast(adapter.device.type, dtype=precision, enabled=precision is not None):
                if stage == 1:
                    out = stage1_loss(adapter, mine[index], inputs, log_t, settings, len(micro), k, dim)
                    loss, logged = out["loss"] * (len(micro) / len(batch)), out["log"]
                    logged = {name: value * (len(micro) / len(batch)) for name, value in logged.items()}
                else:  # summed here; divided by the optimizer batch's tokens once they are all counted
                    loss, count = lm_sum(adapter, inputs)
                    tokens += count
                    logged = {"total": loss.detach()}
                    if norm is None:  # about the step's tokens: gradients of a mean's size (float16 overflows a sum's)
                        norm = max(float(all_sum(torch.tensor([count], device=adapter.device))[0]), 1.0) \
                            * math.ceil(len(batch) / per_micro)
                    loss = loss / norm
            if loss.requires_grad:
                scaler.scale(loss).backward()
            for name, value in logged.items():
                sums[name] = sums.get(name, 0.0) + value
        scale = 1.0
        if stage == 2:
            tokens = int(all_sum(torch.tensor([tokens], device=adapter.device))[0])
            scale = 1.0 / max(tokens, 1)
        _reduce_gradients(lora_params, temperatures, size, scale * (norm or 1.0), settings.gather)
        scaler.unscale_(optimizer)
        if on_step is not None:
            on_step(step, reduced)
        if settings.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(reduced, settings.max_grad_norm)
        scaler.step(optimizer)  # skipped where a float16 gradient overflowed, as the Trainer does
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        names = sorted(sums)
        totals = all_sum(torch.stack([torch.as_tensor(sums[n], dtype=torch.float64, device=adapter.device).detach()
                                      for n in names]).double()).tolist()
        values = dict(zip(names, totals))
        row = {"step": step + 1, "loss": values.pop("total") * scale, "lr": scheduler.get_last_lr()[0]}
        if stage == 1:
            row |= {f"loss_{k_}": values[k_] for k_ in ("gen", "oa", "ac", "cc")}
            used = stage_temperatures(log_t, settings)
            row["temperature"] = used[0].item()
            if n_temps == 2:
                row["temperature_ac"] = used[1].item()
        state["rows"].append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        bar.update(1)
        done = step + 1
        if done % settings.checkpoint_every == 0 or done == total:
            _save(path, key, parts, done, state["rows"], lora_params, log_t, optimizer, scheduler, rank,
                  scaler.state_dict())
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


def _batch(samples: list, settings: Settings, per_epoch: int, step: int) -> list:
    """The samples of optimizer step ``step``: a seeded permutation per epoch, cut in batches."""
    epoch, index = divmod(step, per_epoch)
    order = np.random.default_rng([settings.seed, epoch]).permutation(len(samples))
    return [samples[i] for i in order[index * settings.batch_size:(index + 1) * settings.batch_size]]


def _split(batch: list, size: int) -> list[list]:
    return [batch[start:start + size] for start in range(0, len(batch), size)]


def _own(micro: list, rank: int, size: int) -> list:
    """Process ``rank``'s rows of a global micro-batch: the rank-th ``size`` of them (fewer or none
    at a short last batch)."""
    return micro[rank * size:(rank + 1) * size]


def _checkpointing(settings: Settings, adapter) -> bool:
    if settings.gradient_checkpointing == "auto":
        return sum(p.numel() for p in adapter.model.parameters()) >= BILLION
    return bool(settings.gradient_checkpointing)


def _reduce_gradients(params, temperatures, size: int, scale: float, gather: bool) -> None:
    """Sum every gradient over processes (each process calls the same collectives in the same
    order, a parameter without a gradient here contributing zeros), then scale; a temperature's
    gradient is averaged instead when gathering (every process computed the whole loss's)."""
    every = list(params) + list(temperatures)
    for p in every:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if size > 1:  # one collective for all of them
        import torch.distributed as dist

        flat = torch.cat([p.grad.flatten() for p in every])
        dist.all_reduce(flat)
        for p, part in zip(every, flat.split([p.numel() for p in every])):
            p.grad.copy_(part.view_as(p.grad))
        if gather:
            for p in temperatures:
                p.grad /= size
    if scale != 1.0:
        for p in list(params) + list(temperatures):
            p.grad *= scale


def _rng_state() -> dict:
    """This process's RNG states as numpy arrays: restored as CPU ByteTensors wherever the
    checkpoint was mapped to."""
    state = {"cpu": torch.get_rng_state().numpy().copy()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state().numpy().copy()
    return state


def _save(path: Path, key: str, parts: dict, step: int, rows, params, log_t, optimizer, scheduler, rank: int,
          scaler: dict | None = None) -> None:
    """Every process's RNG states go to the first, which writes the checkpoint."""
    rng = [_rng_state()]
    if world()[1] > 1:
        import torch.distributed as dist

        rng = [None] * world()[1]
        dist.all_gather_object(rng, _rng_state())
    if rank != 0:
        return
    tmp = path.with_name(path.name + ".partial")
    torch.save({"fingerprint": key, "parts": parts, "step": step, "rows": rows,
                "params": [p.detach().cpu() for p in params], "log_t": log_t.detach().cpu(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng,
                "scaler": scaler or {}}, tmp)
    os.replace(tmp, path)


def restore_rng(states: list[dict], rank: int) -> None:
    """Process ``rank``'s RNG states from a checkpoint (numpy arrays, on whatever device the rest
    of it was mapped to)."""
    state = states[rank]
    torch.set_rng_state(torch.from_numpy(np.asarray(state["cpu"], dtype=np.uint8).copy()))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.from_numpy(np.asarray(state["cuda"], dtype=np.uint8).copy()))


def _restore(saved: dict, params, log_t, optimizer, scheduler, rank: int) -> None:
    with torch.no_grad():
        for p, value in zip(params, saved["params"]):
            p.copy_(value.to(p.device, p.dtype))
        log_t.copy_(saved["log_t"].to(log_t.device))
    optimizer.load_state_dict(saved["optimizer"])  # moves its state to each parameter's device
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"], rank)


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


def merge_float32(peft_model):
    """The model with its LoRA merged in, each adapted weight computed in float32 (W + B A x
    scaling) and rounded once to the weight's own dtype, whatever dtype the LoRA weights have
    (peft's merge rounds a bf16 LoRA's update to bf16 first, then the sum). Returns the base model
    without LoRA."""
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        for module in peft_model.modules():
            if not isinstance(module, LoraLayer):
                continue
            base = module.get_base_layer()
            if not isinstance(base, torch.nn.Linear) or getattr(module, "fan_in_fan_out", False):
                raise FgvrError(f"cannot merge LoRA into a {type(base).__name__} in float32; only linears are adapted")
            exact = base.weight.float()
            for name in module.active_adapters:
                if name in module.lora_A:
                    delta = module.lora_B[name].weight.float() @ module.lora_A[name].weight.float()
                    exact = exact + delta * module.scaling[name]
            base.weight.copy_(exact.to(base.weight.dtype))
    return peft_model.unload()  # the LoRA layers removed, their update already in the weights


def save_merged(peft_model, adapter, out_dir: str | Path) -> Path:
    """Merge the LoRA weights into the model and save it, with its processor, as a Hugging Face
    checkpoint folder that every later stage loads like any other (atomically)."""
    from ..io import atomic_path

    merged = merge_float32(peft_model)
    with atomic_path(out_dir) as tmp:
        merged.save_pretrained(tmp)
        adapter.processor.save_pretrained(tmp)
    adapter.model = merged
    return Path(out_dir)
