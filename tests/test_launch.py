"""fgvr.launch: the GPUs a job holds, read from the environment, and the accelerate command over them."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from fgvr.launch import GPUAllocationError, allocated_gpus, launch_command, main_process_port

# What Slurm 22.05 sets in a job step of `sbatch --gpus=2` (captured on the test cluster).
SLURM_TWO = {"SLURM_JOB_ID": "1234", "CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_GPUS": "0,1",
             "SLURM_STEP_GPUS": "0,1", "SLURM_GPUS_ON_NODE": "2", "GPU_DEVICE_ORDINAL": "0,1"}


@pytest.mark.parametrize("env, expected", [
    ({}, []),
    (SLURM_TWO, ["0", "1"]),
    ({"CUDA_VISIBLE_DEVICES": "2,3", "SLURM_JOB_GPUS": "5,6"}, ["2", "3"]),  # the process's own view wins
    ({"SLURM_JOB_GPUS": "4,5,6"}, ["4", "5", "6"]),
    ({"SLURM_STEP_GPUS": "1", "SLURM_JOB_GPUS": "1,2"}, ["1"]),  # a step holds part of the job's GPUs
    ({"SLURM_GPUS_ON_NODE": "3"}, ["0", "1", "2"]),
    ({"CUDA_VISIBLE_DEVICES": "GPU-8a1b,MIG-3c4d"}, ["GPU-8a1b", "MIG-3c4d"]),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles", "SLURM_GPUS_ON_NODE": "2"}, ["0", "1"]),
    ({"CUDA_VISIBLE_DEVICES": ""}, []),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
])
def test_allocated_gpus(env, expected):
    assert allocated_gpus(env) == expected


def test_two_gpus_launch_accelerate_over_exactly_those():
    cmd = launch_command("train.py", ["--stage", "1"], gpus=2, env=SLURM_TWO, python="py")
    assert cmd == ["py", "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
                   "--num_processes", "2", "--gpu_ids", "0,1", "--main_process_port", str(29500 + 1234),
                   "train.py", "--stage", "1"]
    four = {"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "4,5,6,7"}
    cmd = launch_command("train.py", gpus=4, env=four, python="py", mixed_precision="bf16")
    assert cmd[cmd.index("--gpu_ids") + 1] == "4,5,6,7" and cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[cmd.index("--mixed_precision") + 1] == "bf16"


def test_one_gpu_or_none_runs_plain_python():
    assert launch_command("s.py", ["a"], gpus=1, env={"SLURM_JOB_ID": "3", "CUDA_VISIBLE_DEVICES": "3"},
                          python="py") == ["py", "s.py", "a"]
    assert launch_command("s.py", gpus=1, env={}, python="py") == ["py", "s.py"]
    assert launch_command("s.py", gpus=0, env={}, python="py") == ["py", "s.py"]


def test_several_asked_without_gpus_start_that_many_cpu_processes():
    """gpus: 2 on a machine without GPUs: torchrun starts 2 processes (gloo), each running the
    script; tests/test_distributed.py trains through exactly this."""
    cmd = launch_command("s.py", ["spec.json"], gpus=2, env={}, python="py")
    assert cmd == ["py", "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
                   "s.py", "spec.json"]
    assert launch_command("s.py", gpus=3, env={"CUDA_VISIBLE_DEVICES": ""}, python="py")[6:8] == ["--nproc_per_node",
                                                                                                  "3"]


def test_a_slurm_job_holding_other_than_asked_fails():
    with pytest.raises(GPUAllocationError, match="asks for 4 GPU.*holds 2"):
        launch_command("train.py", gpus=4, env=SLURM_TWO)


def test_a_workstation_uses_the_first_gpus_asked():
    cmd = launch_command("t.py", gpus=2, env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, python="py")
    assert cmd[cmd.index("--gpu_ids") + 1] == "0,1"


def test_port_follows_the_job():
    assert main_process_port({}) == 29500
    assert main_process_port({"SLURM_JOB_ID": "123456"}) == 29500 + 3456


def test_module_prints_the_command():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "workflow"), **SLURM_TWO}
    out = subprocess.run([sys.executable, "-m", "fgvr.launch"], env=env, capture_output=True, text=True, check=True)
    assert "--num_processes 2 --gpu_ids 0,1" in out.stdout and "gpus: 0,1" in out.stdout
