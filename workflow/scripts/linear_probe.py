"""Rule linear_probe: C chosen on val (official, or held out from train), refit, test accuracy per representation."""
import torch

from fgvr.io import run_script, write_json
from fgvr.probe import probe_stores
from fgvr.store import read_store


def main(smk):
    torch.set_num_threads(smk.threads)
    val = read_store(smk.input.val) if smk.input.get("val") else None
    write_json(smk.output[0], probe_stores(read_store(smk.input.train), read_store(smk.input.test), val,
                                           **smk.params.probe))


run_script(main, snakemake)  # noqa: F821
