"""Rule tsne: the paper's Figure 2 for one pooling: per model (VLMs first) a row of three panels,
objects, category names, and both in one t-SNE; every point in the CSV with its panel."""
from fgvr import plots
from fgvr.io import run_script, write_csv


def main(smk):
    p, pooling = smk.params, smk.wildcards.pooling
    frame = plots.tsne_figure_frame(p.models, smk.input.objects, smk.input.categories, pooling, p.tsne)
    write_csv(smk.output.csv, frame)
    plots.plot_tsne(frame, smk.output.png, plots.tsne_title(smk.wildcards.dataset, frame, p.tsne["split"], pooling))


run_script(main, snakemake)  # noqa: F821
