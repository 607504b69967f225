# Helpers for the rule files. What to build for a config is decided in fgvr.plan.
from fgvr import datasets as fgvr_datasets
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


# ---- data sets: which official files a config entry needs downloaded (fgvr.datasets decides)


def dataset_downloads(wildcards):
    """The download outputs that prepare_dataset waits for: none when `archive` or `root` is given."""
    name = wildcards.dataset
    return [f"resources/downloads/{name}/{f}" for f in fgvr_datasets.downloads(name, config["datasets"][name])]


def downloading_datasets():
    """Wildcard constraint: the data sets whose config entry asks for a download."""
    return plan.one_of([n for n, o in config["datasets"].items() if fgvr_datasets.downloads(n, o)])


def download_identity(wildcards):
    """What the downloaded file is (name, checksum), not where it comes from: the cache key."""
    return fgvr_datasets.identity(wildcards.dataset, config["datasets"][wildcards.dataset], wildcards.file)
