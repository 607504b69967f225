"""Rule benchmark_table: every evaluation's accuracy beside the paper's numbers (csv, md, png),
and the base / fine-tuned twin comparison as the markdown's last section."""
import pandas as pd

from fgvr import benchmark, twins
from fgvr.io import read_json, run_script


def main(smk):
    frame = benchmark.table([read_json(f) for f in smk.input.results])
    section = twins.markdown(pd.read_csv(smk.input.twins[0])) if smk.input.twins else ""
    benchmark.write(frame, smk.output.csv, smk.output.md, smk.output.png, section)


run_script(main, snakemake)  # noqa: F821
