"""A whole stage as the workflow runs it: load the starting checkpoint, read the samples, train,
merge the LoRA into a new checkpoint. ``spec`` (a plain dict, also written as JSON for a
multi-GPU launch) holds everything:

  stage (1 | 2), model (the starting checkpoint folder), out (the merged checkpoint folder),
  work (checkpoints, log.csv, loss.png), datasets (fgvr.train.data.DatasetFiles fields per
  data set), settings (fgvr.train.loop.Settings of the stage), lora {r, alpha, dropout},
  quantize (none | nf4), dtype, device, entry (the config entry, for messages).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..io import FgvrError


def samples_of(spec: dict) -> list:
    from .data import DatasetFiles, stage1_samples, stage2_samples

    sets = [DatasetFiles(**files) for files in spec["datasets"]]
    return stage1_samples(sets) if spec["stage"] == 1 else stage2_samples(sets)


def load(spec: dict):
    """The starting checkpoint's adapter; 4-bit (QLoRA, nf4, bf16 compute) when asked."""
    from ..models import load_adapter

    adapter = load_adapter(spec["model"], "mllm", spec.get("dtype", "auto"), spec.get("device", "auto"),
                           weights=False)
    if spec.get("quantize", "none") == "nf4":
        import torch

        if adapter.device.type != "cuda":
            raise FgvrError(f"{spec['entry']}.quantize: nf4 (bitsandbytes 4-bit) needs a CUDA GPU; "
                            "use quantize: none on this machine")
        from transformers import BitsAndBytesConfig

        adapter.quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                  bnb_4bit_compute_dtype=torch.bfloat16)
    return adapter.load_weights()


def run_stage(spec: dict, progress: bool = True):
    """Train one stage and write its merged checkpoint (the first process only, when several)."""
    from .loop import Settings, save_merged, train_stage, world

    adapter = load(spec)
    samples = samples_of(spec)
    peft_model = train_stage(adapter, samples, spec["stage"], Settings.of(spec["settings"]), spec["lora"],
                             spec["work"], identity=identity(spec), progress=progress)
    if world()[0] == 0:
        if spec.get("quantize", "none") == "nf4":
            peft_model = _unquantized(spec, peft_model)
        save_merged(peft_model, adapter, spec["out"])


def identity(spec: dict) -> str:
    """What a stage starts from, by content: the starting checkpoint and every file it reads
    (sha256), so that an edited descriptions.csv or other negatives never resume a checkpoint."""
    from ..datasets.download import file_digest
    from ..extract import checkpoint_identity
    from .data import STAGE_FILES

    files = [f for d in spec["datasets"] for key in STAGE_FILES[spec["stage"]]
             for f in (d[key] if isinstance(d[key], list) else [d[key]])]
    return json.dumps({"model": checkpoint_identity(spec["model"]),
                       "files": {f: file_digest(f, "sha256") for f in files}}, sort_keys=True)


def _unquantized(spec: dict, peft_model):
    """The trained LoRA on the starting weights in full precision (a 4-bit base cannot be saved
    merged without rounding): save the adapter, reload the base unquantized, apply it."""
    from peft import PeftModel

    from ..models import load_adapter

    adapter_dir = Path(spec["work"]) / "adapter"
    peft_model.save_pretrained(adapter_dir)
    base = load_adapter(spec["model"], "mllm", "bfloat16", spec.get("device", "auto"))
    return PeftModel.from_pretrained(base.model, adapter_dir)


def launch(spec: dict, gpus: int) -> None:
    """Run the stage here (one GPU or none) or over ``gpus`` GPUs through accelerate."""
    if gpus < 2:
        run_stage(spec)
        return
    import subprocess

    from ..launch import describe, launch_command

    path = Path(spec["work"]) / "spec.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2))
    cmd = launch_command(str(Path(__file__).with_name("__main__.py")), [str(path)], gpus=gpus)
    print(describe(cmd), file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]))
    subprocess.run(cmd, check=True, env=env)


def join(spec: dict) -> None:
    """Join the process group a launcher set up (accelerate on GPUs: nccl; torchrun on CPUs:
    gloo), with a timeout on every collective, so a mismatch fails the job instead of hanging."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            spec["device"] = f"cuda:{local}"
        timeout = timedelta(minutes=spec["settings"].get("collective_timeout_min", 30))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timeout)


def main(argv: list[str]) -> None:
    """Entry of each launched process: join the process group, then run the stage."""
    spec = json.loads(Path(argv[0]).read_text())
    join(spec)
    run_stage(spec)
