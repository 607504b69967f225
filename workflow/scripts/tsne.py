"""Rule tsne: the paper's Figure 2 for one pooling, VLM and MLLM panels side by side."""
from fgvr import plots
from fgvr.io import run_script, write_csv


def main(smk):
    p = smk.params
    frame = plots.tsne_figure_frame(p.models, smk.input.objects, smk.input.categories, smk.wildcards.pooling, p.tsne)
    write_csv(smk.output.csv, frame)
    plots.plot_tsne(frame, smk.output.png, plots.tsne_title(smk.wildcards.dataset, frame, p.tsne["split"]))


run_script(main, snakemake)  # noqa: F821
