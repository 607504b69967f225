"""Rule describe: attributes.json, descriptions.csv, class_descriptions.csv of one data set."""
import torch

from fgvr import describe
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import run_script


def main(smk):
    torch.set_num_threads(smk.threads)
    settings, name = smk.params.settings, smk.wildcards.dataset
    info, images, per_class = describe.run(
        settings, read_manifest(smk.input.manifest), read_classes(smk.input.classes), name,
        annotated=smk.input.annotated, folder=smk.input.get("folder"), model_dir=smk.input.get("model"),
        cache=smk.params.cache, batch_size=smk.config["descriptions"]["batch_size"],
        device=smk.config["extraction"]["device"])
    describe.write(smk.output, info, images, per_class)


run_script(main, snakemake)  # noqa: F821
