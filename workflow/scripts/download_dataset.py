"""Rule download_dataset: fetch one official file of a data set (resumable, checksummed)."""
from fgvr import datasets
from fgvr.io import run_script


def main(smk):
    name = smk.wildcards.dataset
    datasets.download(name, smk.config["datasets"][name], smk.wildcards.file, smk.output[0])


run_script(main, snakemake)  # noqa: F821
