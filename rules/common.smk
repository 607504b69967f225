# Helpers for the rule files. What to build for a config is decided in fgvr.plan.
from fgvr import datasets as fgvr_datasets
from fgvr import options as fgvr_options
from fgvr import plan


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_.-]+",
    split="train|val|test",
    pooling="last|mean",


def model_dir(wildcards):
    return plan.model_dir(config, wildcards.model)


def model_options(wildcards):
    return plan.model_options(config, wildcards.model)


def dataset_options(wildcards):
    return fgvr_datasets.content_options(config["datasets"][wildcards.dataset])


# ---- data sets: what a config entry downloads, unpacks and reads (fgvr.datasets decides)


def dataset_entry(wildcards):
    return wildcards.dataset, config["datasets"][wildcards.dataset]


def dataset_archives(wildcards):
    """The official files unpack_dataset extracts: the downloads (resources/downloads/{name}/,
    made by download_dataset) or those in `archive`."""
    return [str(p) for p in fgvr_datasets.unpack_sources(*dataset_entry(wildcards))]


def dataset_folder(wildcards):
    """The folder prepare_dataset reads: the unpacked official files, or `root` (none: synthetic)."""
    name, options = dataset_entry(wildcards)
    if fgvr_datasets.unpack_sources(name, options):
        return f"resources/datasets/{name}"
    return options.get("root", [])


def dataset_metadata(wildcards):
    """With `root`: the official metadata files (labels, splits, class lists), not the images."""
    return [str(p) for p in fgvr_datasets.metadata_inputs(*dataset_entry(wildcards))]


def downloading_datasets():
    """Wildcard constraint: the data sets whose config entry asks for a download."""
    return plan.one_of([n for n, o in config["datasets"].items() if fgvr_datasets.downloads(n, o)])


def unpacking_datasets():
    """Wildcard constraint: the data sets whose official files are downloaded or in `archive`."""
    sets = config["datasets"]
    return plan.one_of([n for n, o in sets.items() if fgvr_datasets.source(n, o) in ("download", "archive")])


def download_identity(wildcards):
    """What the downloaded file is (name, checksum), not where it comes from: the cache key."""
    return fgvr_datasets.identity(wildcards.dataset, config["datasets"][wildcards.dataset], wildcards.file)


# ---- descriptions and options (fgvr.plan decides)


def describe_inputs(wildcards):
    """Inputs of describe besides the prepared tables: the checkpoint of the generator, the
    user's file, or (CUB's annotations) the data set's folder."""
    settings = plan.describe_settings(config, wildcards.dataset)
    if settings["mode"] == "generate":
        return {"model": plan.model_dir(config, settings["generator"])}
    if settings["mode"] == "file":
        return {"file": settings["file"]}
    folder = dataset_folder(wildcards)
    return {"folder": folder} if settings["loader"] == "cub200" else {}


def foci_file(wildcards):
    """The official FOCI option file of this data set's loader: in `options.foci_dir`, else
    downloaded by download_foci."""
    from fgvr.options import foci_file as locate

    return str(
        locate(
            fgvr_datasets.loader_name(wildcards.dataset, config["datasets"][wildcards.dataset]),
            config["options"].get("foci_dir"),
        )
    )


# ---- fine-tuning


def finetune_inputs(wildcards, stage):
    """The starting checkpoint and each training data set's files (fgvr.plan decides)."""
    from fgvr.train.data import STAGE_FILES

    spec = plan.finetune_spec(config, wildcards.model, stage)
    return {"start": spec["model"], **{f"{f['name']}_{k}": f[k] for f in spec["datasets"] for k in STAGE_FILES[stage]}}


def finetune_resources(wildcards):
    return config["models"][wildcards.model]["finetune"]["gpus"]
