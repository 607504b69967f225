"""Rule twins: each fine-tuned model beside its base (csv, png): did the recipe help it?"""
from fgvr import twins
from fgvr.io import run_script


def main(smk):
    twins.write(twins.compare(smk.params.jobs), smk.output.csv, smk.output.png)


run_script(main, snakemake)  # noqa: F821
