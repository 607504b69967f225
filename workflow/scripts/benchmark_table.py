"""Rule benchmark_table: every evaluation's accuracy beside the paper's numbers (csv, md, png), the
letter bias and the option orders (csv, and md sections), and the base / fine-tuned twin
comparison as the markdown's last section."""
import pandas as pd

from fgvr import benchmark, twins
from fgvr.io import read_json, run_script, write_csv


def main(smk):
    results = [read_json(f) for f in smk.input.results]
    every_order = results + [read_json(f) for f in smk.input.seeds]
    letters = benchmark.letter_bias(every_order, smk.params.option_seed)
    orders = benchmark.option_orders(every_order, smk.params.option_seed)
    write_csv(smk.output.letters, letters)
    write_csv(smk.output.seeds, orders)
    section = twins.markdown(pd.read_csv(smk.input.twins[0])) if smk.input.twins else ""
    benchmark.write(benchmark.table(results), smk.output.csv, smk.output.md, smk.output.png, section,
                    benchmark.extra_sections(letters, orders))


run_script(main, snakemake)  # noqa: F821
