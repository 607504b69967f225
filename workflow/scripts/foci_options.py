"""Rule foci_options: the official FOCI option file of a data set, matched to its manifest."""
from fgvr import options
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import run_script


def main(smk):
    rows = options.import_foci(smk.input.official, read_manifest(smk.input.manifest), read_classes(smk.input.classes),
                               smk.params.seed, smk.wildcards.dataset, "test",
                               aliases=options.ALIASES.get(smk.params.loader, {}))
    options.write_options(smk.output[0], rows)


run_script(main, snakemake)  # noqa: F821
