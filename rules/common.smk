# Helpers for the rule files. What to build for a config is decided in fgvr.plan.
from fgvr import plan


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_.-]+",
    split="train|val|test",
    pooling="last|mean",


def model_dir(wildcards):
    return plan.model_dir(config, wildcards.model)


def model_options(wildcards):
    return config["models"][wildcards.model]


def batch_size(wildcards):
    return config["models"][wildcards.model].get("batch_size", config["extraction"]["batch_size"])


def analysed(kinds=("vlm", "mllm")):
    """(name, kind) of every analysed model, VLMs first (the paper's figures read left to right)."""
    return [(m, k) for k in kinds for m in config["analysis"][k]]
