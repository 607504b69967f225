"""Rule extract_objects: object (and per-image description) representations of one split."""
import torch

from fgvr.datasets.manifest import read_descriptions, read_manifest
from fgvr.extract import extract_split
from fgvr.io import run_script
from fgvr.models import load_adapter


def main(smk):
    torch.set_num_threads(smk.threads)
    p = smk.params
    adapter = load_adapter(smk.input.model, p.model["kind"], p.model["dtype"], p.device, p.model["trust_remote_code"])
    extract_split(adapter, read_manifest(smk.input.manifest, smk.wildcards.split), smk.output[0],
                  smk.wildcards.model, read_descriptions(smk.input.descriptions), batch_size=p.batch_size,
                  num_workers=p.num_workers, group_by_shape=p.group_by_shape)


run_script(main, snakemake)  # noqa: F821
