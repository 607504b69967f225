"""Rules finetune_stage1 / finetune_stage2: one training stage, ending in a merged checkpoint."""
import torch

from fgvr import plan
from fgvr.io import run_script
from fgvr.train.run import launch


def main(smk):
    torch.set_num_threads(smk.threads)
    # the device and the run settings change speed, not results: they stay out of the rule's params
    spec = dict(smk.params.spec, device=smk.config["extraction"]["device"])
    spec["settings"] = dict(spec["settings"], **plan.finetune_run_settings(smk.config, smk.wildcards.model))
    launch(spec, smk.resources.gpu)


run_script(main, snakemake)  # noqa: F821
