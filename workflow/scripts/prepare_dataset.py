"""Rule prepare_dataset: write manifest.csv, classes.csv, ground_truth.csv for one data set."""
from pathlib import Path

from fgvr import datasets
from fgvr.io import run_script


def main(smk):
    data = smk.input.get("data") or None  # the unpacked files or `root`; none for synthetic
    datasets.prepare(smk.wildcards.dataset, smk.params.options, Path(smk.output.manifest).parent, data=data)


run_script(main, snakemake)  # noqa: F821
