"""Rules finetune_stage1 / finetune_stage2: one training stage, ending in a merged checkpoint."""
import torch

from fgvr.io import run_script
from fgvr.train.run import launch


def main(smk):
    torch.set_num_threads(smk.threads)
    # the device is a run setting, not a rerun trigger: it stays out of the rule's params
    launch(dict(smk.params.spec, device=smk.config["extraction"]["device"]), smk.resources.gpu)


run_script(main, snakemake)  # noqa: F821
