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


def vlm_models(config: dict) -> list[str]:
    return [m for m, o in config["models"].items() if o["kind"] == "vlm"]


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


# ---- descriptions, negatives, options (issue 8's stages)

GROUND_TRUTH_LOADERS = ("synthetic", "cub200")  # loaders whose annotations describe every image


def analysed_datasets(config: dict) -> list[str]:
    return config["analysis"].get("datasets") or list(config["datasets"])


def description_mode(config: dict, dataset: str) -> str:
    """generate, ground_truth or file."""
    mode = config["datasets"][dataset]["descriptions"]
    return "file" if isinstance(mode, dict) else mode


def generator(config: dict) -> str | None:
    """The MLLM that generates descriptions: configured, else the first analysed MLLM."""
    return config["descriptions"].get("generator") or next(iter(config["analysis"]["mllm"]), None)


def describe_settings(config: dict, dataset: str) -> dict:
    """What decides a data set's descriptions (its rule's params; speed settings left out)."""
    options = config["datasets"][dataset]
    loader = datasets.loader_name(dataset, options)
    from .describe import domain

    super_, kinds = domain(loader, options)
    out = {"mode": description_mode(config, dataset), "loader": loader, "super": super_, "kinds": kinds}
    if out["mode"] == "file":
        out["file"] = options["descriptions"]["file"]
    if out["mode"] == "generate":
        gen = config["descriptions"]
        out |= {"generator": generator(config), "attributes": gen["attributes"], "max_new_tokens": gen["max_new_tokens"],
                "attribute_list": gen.get("attribute_list"), "model": model_options(config, generator(config))}
    return out


def negatives_vlm(config: dict) -> str | None:
    return config["negatives"].get("vlm") or next(iter(config["analysis"]["vlm"]), None)


def option_sources(config: dict) -> list[str]:
    sources = config["options"].get("sources")
    if sources is None:
        sources = config["analysis"]["vlm"][:1]
    return list(sources)


def option_files(config: dict, dataset: str) -> list[str]:
    """options/{source}/{split}.jsonl: every mined split a VLM source is asked for (and the data
    set has); `foci` only where an official file exists (the paper's six), test split."""
    from .options import FOCI_FILES

    data, out = DATA.format(dataset=dataset), []
    for source in option_sources(config):
        if source == "foci":
            if datasets.loader_name(dataset, config["datasets"][dataset]) in FOCI_FILES:
                out.append(f"{data}/options/foci/test.jsonl")
            continue
        out += [f"{data}/options/{source}/{split}.jsonl" for split in config["options"]["splits"]
                if split in splits(config, dataset)]
    return out


def data_targets(config: dict, dataset: str) -> list[str]:
    data = DATA.format(dataset=dataset)
    out = [f"{data}/attributes.json", f"{data}/descriptions.csv", f"{data}/class_descriptions.csv"]
    if dataset in analysed_datasets(config):
        vlm = negatives_vlm(config)
        out += [f"{data}/negatives/{vlm}.csv"] if vlm else []
        out += option_files(config, dataset)
    return out


def targets(config: dict) -> list[str]:
    out = []
    for ds in config["datasets"]:
        out += data_targets(config, ds)
        if ds not in analysed_datasets(config):
            continue
        for model in analysed_models(config):
            emb, ana = EMB.format(dataset=ds, model=model), ANALYSIS.format(dataset=ds, model=model)
            out += [f"{emb}/{split}.h5" for split in analysed_splits(config, ds)]
            out += [f"{emb}/categories.h5", f"{ana}/probe.json", f"{ana}/alignment.json"]
        plots = PLOTS.format(dataset=ds)
        out += [f"{plots}/probe.png", f"{plots}/alignment.png", f"results/analysis/{ds}/summary.csv"]
        out += [f"{plots}/tsne_{pooling}.png" for pooling in config["analysis"]["poolings"]]
    return out
