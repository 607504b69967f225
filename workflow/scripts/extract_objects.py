"""Rule extract_objects: object (and per-image description) representations of one split."""
import torch

from fgvr import plan
from fgvr.datasets.manifest import read_descriptions, read_manifest
from fgvr.extract import extract_split
from fgvr.io import run_script
from fgvr.models import load_adapter


def main(smk):
    torch.set_num_threads(smk.threads)
    model, run = smk.params.model, plan.extraction_settings(smk.config, smk.wildcards.model)
    # weights load inside extract_split, once its preprocessing workers have started
    adapter = load_adapter(smk.input.model, model["kind"], model["dtype"], run["device"], model["trust_remote_code"],
                           weights=False)
    extract_split(adapter, read_manifest(smk.input.manifest, smk.wildcards.split), smk.output[0],
                  smk.wildcards.model, read_descriptions(smk.input.descriptions), batch_size=run["batch_size"],
                  num_workers=run["num_workers"], group_by_shape=run["group_by_shape"])


run_script(main, snakemake)  # noqa: F821
