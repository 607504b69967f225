"""How a multi-GPU job starts: one process per GPU that the scheduler gave the job, through
accelerate, over exactly those GPUs.

A rule asking `gpu=N` becomes one SLURM job with `--gpus=N` (profiles/slurm); inside it, Slurm
names the GPUs in the environment. `allocated_gpus` reads them, `launch_command` builds the
command a rule's script runs (`accelerate launch` for two or more GPUs; torchrun with N CPU
processes where N >= 2 are asked and no GPU is allocated, so the multi-process path runs, and is
tested, on any machine; plain Python for one). No Snakemake and no torch here: importable
anywhere, cheap to test.

Used by the fine-tuning stages (rules/finetune.smk -> fgvr.train.run.launch, gpu=finetune.gpus).
"""
from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence

# Values Slurm or users put in CUDA_VISIBLE_DEVICES that name no GPU.
_NO_GPU = {"", "-1", "none", "nodevfiles", "void"}


class GPUAllocationError(RuntimeError):
    """The job holds a different number of GPUs than the rule asked for."""


def _ids(value: str | None) -> list[str] | None:
    """A comma list of GPU ids (indices, UUIDs or MIG names); None when unset or naming none."""
    if value is None:
        return None
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids or value.strip().lower() in _NO_GPU:
        return None
    return ids


def allocated_gpus(env: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as ids valid in its own view of the devices.

    In order: CUDA_VISIBLE_DEVICES (set by Slurm's gres plugin in every job and step with GPUs,
    or by the user on a workstation); SLURM_STEP_GPUS, then SLURM_JOB_GPUS (the allocated
    indices, where no CUDA_VISIBLE_DEVICES was set); SLURM_GPUS_ON_NODE (a count: ids 0..n-1).
    None of them: no GPU (an empty list).
    """
    env = os.environ if env is None else env
    for key in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        ids = _ids(env.get(key))
        if ids is not None:
            return ids
    count = env.get("SLURM_GPUS_ON_NODE", "").strip()
    if count.isdigit():
        return [str(i) for i in range(int(count))]
    return []


def main_process_port(env: Mapping[str, str] | None = None, base: int = 29500) -> int:
    """The rendezvous port: derived from the Slurm job id, so that two multi-GPU jobs sharing a
    node do not both take accelerate's default port."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID", "").strip()
    return base + int(job) % 10000 if job.isdigit() else base


def launch_command(script: str, args: Sequence[str] = (), *, gpus: int | None = None,
                   env: Mapping[str, str] | None = None, mixed_precision: str | None = None,
                   python: str | None = None) -> list[str]:
    """The command that runs `script args` over every GPU of this job.

    Two or more GPUs: `python -m accelerate.commands.launch --multi_gpu --num_processes N
    --gpu_ids IDS ...` (accelerate then sets CUDA_VISIBLE_DEVICES to IDS for its N processes).
    None allocated but `gpus` >= 2 asked: `python -m torch.distributed.run --standalone
    --nproc_per_node N ...`, N CPU processes (gloo). Otherwise: `python script args`. `gpus` is the count the rule asked for. Inside a
    Slurm job the allocation must match it (GPUAllocationError otherwise, rather than training
    on fewer); elsewhere (a workstation) the first `gpus` visible GPUs are used.
    """
    env = os.environ if env is None else env
    python = python or sys.executable
    ids = allocated_gpus(env)
    if gpus is not None and ids:
        if env.get("SLURM_JOB_ID") and len(ids) != gpus:
            raise GPUAllocationError(
                f"the rule asks for {gpus} GPU(s) but Slurm job {env['SLURM_JOB_ID']} holds {len(ids)} "
                f"({','.join(ids)}); request them with the rule's resources gpu={gpus} (sbatch --gpus={gpus})")
        ids = ids[:gpus]
    if not ids and gpus is not None and gpus >= 2:
        return [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", str(gpus),
                script, *args]
    if len(ids) < 2:
        return [python, script, *args]
    cmd = [python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
           "--num_processes", str(len(ids)), "--gpu_ids", ",".join(ids),
           "--main_process_port", str(main_process_port(env))]
    if mixed_precision:
        cmd += ["--mixed_precision", mixed_precision]
    return cmd + [script, *args]


def describe(cmd: Sequence[str]) -> str:
    """The command as one shell line (for logs)."""
    return shlex.join(cmd)


if __name__ == "__main__":  # `python -m fgvr.launch`: what this job would launch
    print(describe(launch_command("train.py")))
    print("gpus:", ",".join(allocated_gpus()) or "none")
