"""Rule negatives: the k classes a VLM finds most similar to each class."""
from fgvr import options
from fgvr.datasets.manifest import read_classes
from fgvr.io import run_script
from fgvr.store import read_store


def main(smk):
    p = smk.params
    frame = options.negatives(read_store(smk.input.store), p.by, p.k, smk.wildcards.dataset,
                              labels=read_classes(smk.input.classes)["label"])
    options.write_negatives(smk.output[0], frame)


run_script(main, snakemake)  # noqa: F821
