"""What the workflow makes for a config: paths, splits, model folders, the targets of `rule all`.

Kept here, not in the Snakefile, so it is plain Python that tests can call.
"""
from __future__ import annotations

import re

from . import datasets

DATA = "results/data/{dataset}"
EMB = "results/embeddings/{dataset}/{model}"
ANALYSIS = "results/analysis/{dataset}/{model}"
PLOTS = "results/plots/{dataset}"


def model_dir(config: dict, model: str) -> str:
    """Where the checkpoint folder of ``model`` is: built and fetched ones live in resources/models/."""
    opts = config["models"][model]
    return opts["path"] if "path" in opts else f"resources/models/{model}"


def model_options(config: dict, model: str) -> dict:
    """What decides a model's outputs; settings that only change speed (batch_size) are left
    out, so that changing them reruns nothing (Snakemake reruns a job when its params change)."""
    return {k: v for k, v in config["models"][model].items() if k != "batch_size"}


BUILD_KEYS = ("kind", "family", "image_size", "seed", "vocab_from")


def build_options(config: dict, model: str) -> dict:
    """What decides a built demo checkpoint."""
    return {k: v for k, v in config["models"][model].items() if k in BUILD_KEYS}


def extraction_settings(config: dict, model: str) -> dict:
    """How extraction runs (speed, device), read by the scripts, never a rerun trigger."""
    ex = config["extraction"]
    return {"batch_size": config["models"][model].get("batch_size", ex["batch_size"]),
            "num_workers": ex["num_workers"], "group_by_shape": ex["group_by_shape"], "device": ex["device"]}


def demo_models(config: dict) -> list[str]:
    return [m for m, o in config["models"].items() if "build" in o]


def one_of(names: list[str]) -> str:
    """A wildcard constraint matching exactly these names (nothing, if there are none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def hub_models(config: dict) -> list[str]:
    return [m for m, o in config["models"].items() if "hf_id" in o]


def analysed(config: dict) -> list[tuple[str, str]]:
    """(name, kind) of every analysed model, VLMs first (the paper's figures read left to right)."""
    return [(m, k) for k in ("vlm", "mllm") for m in config["analysis"][k]]


def analysed_models(config: dict) -> list[str]:
    return [m for m, _ in analysed(config)]


def splits(config: dict, dataset: str) -> list[str]:
    return datasets.splits(dataset, config["datasets"][dataset])


def analysed_splits(config: dict, dataset: str) -> list[str]:
    """The splits some analysis reads: train, val where the data set has one (the probe chooses
    C on it) and test (probes), and the t-SNE split."""
    used = {"train", "val", "test", config["analysis"]["tsne"]["split"]}
    return [s for s in splits(config, dataset) if s in used]


def targets(config: dict) -> list[str]:
    out = []
    for ds in config["datasets"]:
        for model in analysed_models(config):
            emb, ana = EMB.format(dataset=ds, model=model), ANALYSIS.format(dataset=ds, model=model)
            out += [f"{emb}/{split}.h5" for split in analysed_splits(config, ds)]
            out += [f"{emb}/categories.h5", f"{ana}/probe.json", f"{ana}/alignment.json"]
        plots = PLOTS.format(dataset=ds)
        out += [f"{plots}/probe.png", f"{plots}/alignment.png", f"results/analysis/{ds}/summary.csv"]
        out += [f"{plots}/tsne_{pooling}.png" for pooling in config["analysis"]["poolings"]]
    return out
