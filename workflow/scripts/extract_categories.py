"""Rule extract_categories: representations of the category names and class descriptions."""
import torch

from fgvr import plan
from fgvr.datasets.manifest import read_classes
from fgvr.extract import extract_categories
from fgvr.io import run_script
from fgvr.models import load_adapter


def main(smk):
    torch.set_num_threads(smk.threads)
    model, run = smk.params.model, plan.extraction_settings(smk.config, smk.wildcards.model)
    adapter = load_adapter(smk.input.model, model["kind"], model["dtype"], run["device"], model["trust_remote_code"])
    extract_categories(adapter, read_classes(smk.input.classes), smk.output[0], smk.wildcards.model,
                       batch_size=run["batch_size"])


run_script(main, snakemake)  # noqa: F821
