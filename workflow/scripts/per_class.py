"""Rule per_class: every evaluation's accuracy per class and its most confused class pairs (csv)."""
from fgvr import per_class
from fgvr.io import run_script, write_csv


def main(smk):
    accuracy, confused = per_class.tables(smk.params.jobs)
    write_csv(smk.output.csv, accuracy)
    write_csv(smk.output.confusions, confused)


run_script(main, snakemake)  # noqa: F821
