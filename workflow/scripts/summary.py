"""Rule summary: one table and two bar charts of every model's probe and alignment results."""
from fgvr import plots
from fgvr.io import read_json, run_script, write_csv


def main(smk):
    models = smk.params.models
    frame = plots.summary_frame(smk.wildcards.dataset, {m: read_json(f) for m, f in zip(models, smk.input.probes)},
                                {m: read_json(f) for m, f in zip(models, smk.input.alignments)})
    write_csv(smk.output.csv, frame)
    note = f" ({plots.DEMO_NOTE})" if frame["demo"].any() else ""
    plots.plot_bars(frame, "probe", smk.output.probe, f"{smk.wildcards.dataset}: linear probes{note}")
    plots.plot_bars(frame, "alignment", smk.output.alignment,
                    f"{smk.wildcards.dataset}: object -> category accuracy{note}")


run_script(main, snakemake)  # noqa: F821
