"""Rule linear_probe: train -> test accuracy of a linear classifier on each representation."""
from fgvr.io import run_script, write_json
from fgvr.probe import probe_stores
from fgvr.store import read_store


def main(smk):
    write_json(smk.output[0], probe_stores(read_store(smk.input.train), read_store(smk.input.test), **smk.params.probe))


run_script(main, snakemake)  # noqa: F821
