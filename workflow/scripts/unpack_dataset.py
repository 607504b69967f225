"""Rule unpack_dataset: extract a data set's official files into its resources/datasets folder."""
from fgvr import datasets
from fgvr.io import run_script


def main(smk):
    datasets.unpack(list(smk.input), smk.output[0])


run_script(main, snakemake)  # noqa: F821
