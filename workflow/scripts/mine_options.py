"""Rule mine_options: 4-way options per image, the 3 wrong classes a VLM ranks highest (FOCI's rule)."""
from fgvr import options
from fgvr.datasets.manifest import read_manifest
from fgvr.io import run_script
from fgvr.store import read_store


def main(smk):
    w = smk.wildcards
    rows = options.mine_options(read_store(smk.input.objects), read_store(smk.input.categories),
                                read_manifest(smk.input.manifest, w.split), smk.params.seed, w.dataset, w.split)
    options.write_options(smk.output[0], rows)


run_script(main, snakemake)  # noqa: F821
