"""One process of a test training run, started by tests/test_distributed.py through
fgvr.launch.launch_command (torchrun with gloo on this CPU, or plain Python for one process).

It runs the real entry point (fgvr.train.run.main: join the process group, train, merge) with two
test hooks on train_stage: every step's reduced gradients are kept (rank 0 writes them to
OUT/grads.pt), and ``stop_after`` stops every process after that step as a kill would.

usage: dist_driver.py SPEC.json OUT [STOP_AFTER]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import logging  # noqa: E402

import torch  # noqa: E402

from fgvr.train import loop, run  # noqa: E402

spec, out = sys.argv[1], Path(sys.argv[2])
stop_after = int(sys.argv[3]) if len(sys.argv) > 3 else None
grads = []
train_stage = loop.train_stage


def keep(step, params):
    grads.append(torch.cat([p.grad.detach().flatten().double().clone() for p in params]))


def hooked(*args, **kwargs):
    return train_stage(*args, on_step=keep, stop_after=stop_after, progress=False,
                       **{k: v for k, v in kwargs.items() if k != "progress"})


loop.train_stage = hooked
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
try:
    run.main([spec])
except KeyboardInterrupt:
    sys.exit(3)  # stopped as a kill would stop it
if loop.world()[0] == 0:
    out.mkdir(parents=True, exist_ok=True)
    torch.save(grads, out / "grads.pt")
