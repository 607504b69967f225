"""Rule evaluate: one model on one data set's test split with one protocol (mc4-*, open, zeroshot)."""
from fgvr import evaluate
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import run_script


def main(smk):
    settings, ex = smk.params.settings, smk.config["extraction"]
    if settings["kind"] == "mllm":  # zeroshot reads cached embeddings: no torch
        import torch

        torch.set_num_threads(smk.threads)
    evaluate.run(settings, read_manifest(smk.input.manifest), read_classes(smk.input.classes),
                 {"jsonl": smk.output.jsonl, "json": smk.output.json}, options_path=smk.input.get("options"),
                 model_dir=smk.input.get("model"), objects=smk.input.get("objects"),
                 categories=smk.input.get("categories"), batch_size=smk.config["evaluation"]["batch_size"],
                 num_workers=ex["num_workers"], device=ex["device"])


run_script(main, snakemake)  # noqa: F821
