"""Rule compare: the model pairs of evaluation.compare, item by item (csv, md)."""
from fgvr import compare
from fgvr.io import run_script


def main(smk):
    compare.write(compare.compare(smk.params.jobs), smk.output.csv, smk.output.md)


run_script(main, snakemake)  # noqa: F821
