"""Rule benchmark_table: every evaluation's accuracy beside the paper's numbers (csv, md, png)."""
from fgvr import benchmark
from fgvr.io import read_json, run_script


def main(smk):
    frame = benchmark.table([read_json(f) for f in smk.input])
    benchmark.write(frame, smk.output.csv, smk.output.md, smk.output.png)


run_script(main, snakemake)  # noqa: F821
