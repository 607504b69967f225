"""Rule twins: each fine-tuned model beside its base (csv, md, png), with the classes it gained
and lost (csv, png): did the recipe help it?"""
from fgvr import twins
from fgvr.io import run_script


def main(smk):
    jobs, out = smk.params.jobs, smk.output
    twins.write(twins.compare(jobs), out.csv, out.png, out.md, twins.class_changes(jobs), out.classes, out.classes_png)


run_script(main, snakemake)  # noqa: F821
