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
    """What decides a model's outputs; settings that only change speed or what a scheduler is
    asked for (batch_size, resources, a fine-tuned model's FINETUNE_SPEED and
    FINETUNE_SCHEDULING) are left out, so that changing them reruns nothing (Snakemake reruns a
    job when its params change)."""
    options = {k: v for k, v in config["models"][model].items() if k not in ("batch_size", "resources")}
    if "finetune" in options:
        options["finetune"] = {k: v for k, v in options["finetune"].items()
                               if k not in FINETUNE_SPEED + FINETUNE_SCHEDULING}
    return options


BUILD_KEYS = ("kind", "family", "image_size", "seed", "vocab_from")


def build_options(config: dict, model: str) -> dict:
    """What decides a built demo checkpoint."""
    return {k: v for k, v in config["models"][model].items() if k in BUILD_KEYS}


def extraction_settings(config: dict, model: str) -> dict:
    """How extraction runs (speed, device), read by the scripts, never a rerun trigger."""
    ex = config["extraction"]
    return {"batch_size": config["models"][model].get("batch_size", ex["batch_size"]),
            "num_workers": ex["num_workers"], "group_by_shape": ex["group_by_shape"], "device": ex["device"]}


def model_resource(config: dict, model: str | None, key: str):
    """What ``model``'s GPU jobs ask the scheduler for (gpu_mem_mb, mem_mb, runtime_min): its
    `resources`, else extraction's."""
    own = config["models"][model].get("resources", {}) if model else {}
    return own.get(key, config["extraction"][key])


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


def analysed_splits(config: dict, dataset: str, model: str | None = None) -> list[str]:
    """The splits some analysis of ``model`` reads: train and test (probes), val where the data
    set has one and the probe chooses C on it (``probe_val``), and the t-SNE split."""
    used = {"train", "test", config["analysis"]["tsne"]["split"]}
    if model is None or probe_val(config, dataset, model):
        used.add("val")
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


def describe_model(config: dict, dataset: str) -> str | None:
    """The model a describe job runs (whose resources it asks for): the generator, where the data
    set's descriptions are generated."""
    return generator(config) if description_mode(config, dataset) == "generate" else None


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
        from .prompts import PROMPT_FORMAT

        gen = config["descriptions"]
        out |= {"prompt_format": PROMPT_FORMAT, "generator": generator(config), "attributes": gen["attributes"],
                "max_new_tokens": gen["max_new_tokens"], "attribute_list": gen.get("attribute_list"),
                "model": model_options(config, generator(config))}
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
    set has), and the training splits of a fine-tuned model that learns from its options; `foci`
    only where an official file exists (the paper's six), test split."""
    from .options import FOCI_FILES

    data, out = DATA.format(dataset=dataset), []
    wanted = {s: list(config["options"]["splits"]) for s in option_sources(config) if s != "foci"}
    for model in finetuned_models(config):
        if dataset in config["models"][model]["finetune"]["datasets"]:
            wanted.setdefault(finetune_vlm(config, model), []).extend(finetune_splits(config, model, dataset))
    for source in option_sources(config):
        if source == "foci" and datasets.loader_name(dataset, config["datasets"][dataset]) in FOCI_FILES:
            out.append(f"{data}/options/foci/test.jsonl")
    for source, asked in wanted.items():
        out += [f"{data}/options/{source}/{split}.jsonl" for split in splits(config, dataset) if split in asked]
    return out


def data_targets(config: dict, dataset: str) -> list[str]:
    data = DATA.format(dataset=dataset)
    out = [f"{data}/attributes.json", f"{data}/descriptions.csv", f"{data}/class_descriptions.csv"]
    if dataset in analysed_datasets(config):
        vlm = negatives_vlm(config)
        out += [f"{data}/negatives/{vlm}.csv"] if vlm else []
        out += option_files(config, dataset)
    return out


# ---- alignment fine-tuning (issue 9)

TRAIN = "results/train/{model}/stage{stage}"


def finetuned_models(config: dict) -> list[str]:
    return [m for m, o in config["models"].items() if "finetune" in o]


def finetune_vlm(config: dict, model: str) -> str | None:
    return config["models"][model]["finetune"].get("options") or negatives_vlm(config)


def dataset_question(config: dict, dataset: str) -> str:
    """The multiple-choice question of a data set (its `question`, the official one, or from its
    super-category): what evaluation and stage-2 training ask."""
    from .describe import domain
    from .prompts import question

    options = config["datasets"][dataset]
    loader = datasets.loader_name(dataset, options)
    return question(loader, domain(loader, options)[0], options.get("question"))


def finetune_splits(config: dict, model: str, dataset: str) -> list[str]:
    """The splits of ``dataset`` that ``model`` trains on: `finetune.splits` the data set has
    (train + val by default, the official choice; val only where the data set has one)."""
    tune = config["models"][model]["finetune"]
    return [s for s in splits(config, dataset) if s in tune["splits"]] if dataset in tune["datasets"] else []


def probe_val(config: dict, dataset: str, model: str) -> bool:
    """Whether the linear probe chooses C on the data set's official val split. Not for a twin
    that trained on that split, nor for its base, where both are analysed: the pair is compared
    on the same footing, C chosen on a held-out part of train for both."""
    if "val" not in splits(config, dataset):
        return False
    mllms = config.get("analysis", {}).get("mllm", [])
    for twin in finetuned_models(config):
        base = config["models"][twin]["finetune"]["from"]
        compared = twin in mllms and base in mllms  # where the twins table reads both probes
        if compared and model in (twin, base) and "val" in finetune_splits(config, twin, dataset):
            return False
    return True


# ---- base and fine-tuned twin side by side (fgvr.twins)

TWINS = "results/summary/twins"


def twin_jobs(config: dict) -> list[dict]:
    """What the comparison reads: per fine-tuned model and its base, the probe and alignment
    results where both are analysed, and every evaluation both ran."""
    out, evaluated = [], set(evaluation_jobs(config))
    mllms = config["analysis"]["mllm"]
    for twin in finetuned_models(config):
        base = config["models"][twin]["finetune"]["from"]
        pair = {"base": base, "twin": twin}
        if base in mllms and twin in mllms:
            for ds in analysed_datasets(config):
                for kind in ("probe", "alignment"):
                    out.append({**pair, "dataset": ds, "kind": kind, "protocol": None,
                                **{f"{role}_file": f"{ANALYSIS.format(dataset=ds, model=m)}/{kind}.json"
                                   for role, m in pair.items()}})
        for ds, model, protocol in evaluation_jobs(config):
            if model == twin and (ds, base, protocol) in evaluated:
                out.append({**pair, "dataset": ds, "kind": "eval", "protocol": protocol,
                            "classes": f"{DATA.format(dataset=ds)}/classes.csv",
                            **{f"{role}_file": f"{EVAL.format(dataset=ds, model=m, protocol=protocol)}.json"
                               for role, m in pair.items()},
                            **{f"{role}_rows": f"{EVAL.format(dataset=ds, model=m, protocol=protocol)}.jsonl"
                               for role, m in pair.items()}})
    return out


def twin_inputs(config: dict) -> list[str]:
    keys = ("base_file", "twin_file", "base_rows", "twin_rows", "classes")
    return list(dict.fromkeys(job[k] for job in twin_jobs(config) for k in keys if k in job))


TWIN_CLASSES = "results/summary/twins_classes"


def twin_targets(config: dict) -> list[str]:
    if not twin_jobs(config):
        return []
    return [f"{TWINS}.{ext}" for ext in ("csv", "md", "png")] + [f"{TWIN_CLASSES}.{ext}" for ext in ("csv", "png")]


def finetune_files(config: dict, model: str) -> list[dict]:
    """Per training data set, the files a stage reads (fgvr.train.data.DatasetFiles fields)."""
    from .describe import domain

    vlm, out = finetune_vlm(config, model), []
    for name in config["models"][model]["finetune"]["datasets"]:
        data, options = DATA.format(dataset=name), config["datasets"][name]
        used = finetune_splits(config, model, name)
        out.append({"name": name, "super": domain(datasets.loader_name(name, options), options)[0],
                    "question": dataset_question(config, name), "splits": used,
                    "manifest": f"{data}/manifest.csv", "classes": f"{data}/classes.csv",
                    "descriptions": f"{data}/descriptions.csv", "negatives": f"{data}/negatives/{vlm}.csv",
                    "options": [f"{data}/options/{vlm}/{split}.jsonl" for split in used]})
    return out


def finetune_spec(config: dict, model: str, stage: int) -> dict:
    """Everything one stage needs (fgvr.train.run): its starting checkpoint, outputs, data, settings."""
    tune = config["models"][model]["finetune"]
    start = model_dir(config, tune["from"]) if stage == 1 else f"{TRAIN.format(model=model, stage=1)}/model"
    from .prompts import PROMPT_FORMAT

    settings = dict(tune[f"stage{stage}"], seed=tune["seed"], prompt_format=PROMPT_FORMAT,
                    gradient_checkpointing=tune["gradient_checkpointing"], gather=tune["gather"],
                    max_grad_norm=tune["max_grad_norm"], lm_loss=tune["lm_loss"],
                    autocast=tune["autocast"])
    return {"stage": stage, "model": start, "entry": f"models.{model}.finetune",
            "out": f"{TRAIN.format(model=model, stage=1)}/model" if stage == 1 else f"resources/models/{model}",
            "work": TRAIN.format(model=model, stage=stage), "datasets": finetune_files(config, model),
            "settings": settings, "lora": tune["lora"], "quantize": tune["quantize"], "dtype": tune["dtype"]}


FINETUNE_SPEED = ("checkpoint_every", "num_workers", "collective_timeout_min")
FINETUNE_SCHEDULING = ("mem_mb", "runtime_min")  # what a training job asks the scheduler for


def finetune_run_settings(config: dict, model: str) -> dict:
    """How a stage runs, not what it learns (read by the script, never a rerun trigger): checkpoint
    frequency, DataLoader workers, the collectives' timeout."""
    tune = config["models"][model]["finetune"]
    return {key: tune[key] for key in FINETUNE_SPEED}


def targets(config: dict) -> list[str]:
    out = []
    for ds in config["datasets"]:
        out += data_targets(config, ds)
        if ds not in analysed_datasets(config):
            continue
        for model in analysed_models(config):
            emb, ana = EMB.format(dataset=ds, model=model), ANALYSIS.format(dataset=ds, model=model)
            out += [f"{emb}/{split}.h5" for split in analysed_splits(config, ds, model)]
            out += [f"{emb}/categories.h5", f"{ana}/probe.json", f"{ana}/alignment.json"]
        plots = PLOTS.format(dataset=ds)
        out += [f"{plots}/probe.png", f"{plots}/alignment.png", f"results/analysis/{ds}/summary.csv"]
        out += [f"{plots}/tsne_{pooling}.png" for pooling in config["analysis"]["poolings"]]
    out += evaluation_targets(config) + twin_targets(config)
    return out


# ---- evaluation (issue 10): results/eval/{dataset}/{model}/{protocol}.jsonl|json, results/summary/benchmark.*

EVAL = "results/eval/{dataset}/{model}/{protocol}"
SUMMARY = "results/summary/benchmark"
EVAL_SPLIT = "test"


def evaluation_protocols(config: dict) -> list[str]:
    """The configured protocols; by default mc4-{source} for every options source, open, zeroshot."""
    protocols = config.get("evaluation", {}).get("protocols")
    if protocols is None:
        protocols = [f"mc4-{s}" for s in option_sources(config)] + ["open", "zeroshot"]
    return list(protocols)


BLIND = "blind-"  # blind-mc4-{source}, blind-open: the same questions with every image a plain grey one


def sighted(protocol: str) -> str:
    """The protocol that a blind- one asks without its images (any other: itself)."""
    return protocol[len(BLIND):] if protocol.startswith(BLIND) else protocol


def mc4_source(protocol: str) -> str | None:
    """The options source that (blind-)mc4-{source} asks from; None for any other protocol."""
    protocol = sighted(protocol)
    return protocol[len("mc4-"):] if protocol.startswith("mc4-") else None


def protocol_kind(protocol: str) -> str:
    return "vlm" if protocol == "zeroshot" else "mllm"


def test_options_file(config: dict, dataset: str, source: str) -> str | None:
    """options/{source}/test.jsonl where the config makes it for this data set, else None."""
    path = f"{DATA.format(dataset=dataset)}/options/{source}/{EVAL_SPLIT}.jsonl"
    return path if path in option_files(config, dataset) else None


def zeroshot_source(config: dict, dataset: str) -> str | None:
    """The options a VLM's zero-shot is restricted to: those of the first mc4 protocol that this
    data set has (mc4-foci first gives the paper's SigLIP row), else the first options source."""
    sources = [s for s in map(mc4_source, evaluation_protocols(config)) if s is not None]
    for source in sources + option_sources(config):
        if test_options_file(config, dataset, source):
            return source
    return None


def evaluation_source(config: dict, dataset: str, protocol: str) -> str | None:
    return zeroshot_source(config, dataset) if protocol == "zeroshot" else mc4_source(protocol)


def evaluation_jobs(config: dict) -> list[tuple[str, str, str]]:
    """(dataset, model, protocol) of every evaluation: each evaluated model runs the protocols of
    its kind, on the analysed data sets that have the options the protocol needs (mc4-foci: the
    six paper sets)."""
    out = []
    for ds in analysed_datasets(config):
        for model in config.get("evaluation", {}).get("models", []):
            for protocol in evaluation_protocols(config):
                if protocol_kind(protocol) != config["models"][model]["kind"]:
                    continue
                source = evaluation_source(config, ds, protocol)
                if sighted(protocol) != "open" and (source is None or not test_options_file(config, ds, source)):
                    continue
                out.append((ds, model, protocol))
    return out


def evaluation_inputs(config: dict, dataset: str, model: str, protocol: str) -> dict:
    """What rule evaluate reads: the prepared tables, the options file (mc4, zeroshot), the
    checkpoint (an MLLM) or the VLM's cached test and category embeddings (zeroshot)."""
    data = DATA.format(dataset=dataset)
    out = {"manifest": f"{data}/manifest.csv", "classes": f"{data}/classes.csv"}
    source = evaluation_source(config, dataset, protocol)
    if source is not None:
        out["options"] = f"{data}/options/{source}/{EVAL_SPLIT}.jsonl"
    if protocol == "zeroshot":
        emb = EMB.format(dataset=dataset, model=model)
        out |= {"objects": f"{emb}/{EVAL_SPLIT}.h5", "categories": f"{emb}/categories.h5"}
    else:
        out["model"] = model_dir(config, model)
    return out


def evaluation_settings(config: dict, dataset: str, model: str, protocol: str, seed: int | None = None) -> dict:
    """What decides an evaluation's rows (rule evaluate's params): only what its protocol reads,
    so that changing the scoring reruns the mc4 jobs alone; batch_size, a speed setting, is left
    out so that changing it reruns nothing. An MLLM's carry the prompt-format version: results
    made with other prompt tokens rerun."""
    from .describe import domain
    from .prompts import PROMPT_FORMAT

    ev = config["evaluation"]
    out = {"protocol": protocol, "dataset": dataset, "model": model, "kind": config["models"][model]["kind"],
           "options_source": evaluation_source(config, dataset, protocol), "seed": ev["seed"]}
    if seed is not None:  # another option order than the options file's (rule evaluate_seed)
        out["option_seed"] = seed
    if protocol != "zeroshot":
        options = config["datasets"][dataset]
        out |= {"prompt_format": PROMPT_FORMAT, "model_options": model_options(config, model),
                "super": domain(datasets.loader_name(dataset, options), options)[0]}
        if sighted(protocol) == "open":
            out["open_max_new_tokens"] = ev["open_max_new_tokens"]
        else:
            foci = mc4_source(protocol) == "foci"
            # official spellings exist only in FOCI's files; mined options are always shown clean
            out |= {"scoring": ev["scoring"], "option_names": ev["option_names"] if foci else "clean"}
            if ev["scoring"] != "names":  # names scoring asks the open question
                out["question"] = dataset_question(config, dataset)
                if foci:
                    out["foci_wrap"] = ev["foci_wrap"]
            if ev["scoring"] == "generate":
                out |= {"max_new_tokens": ev["max_new_tokens"], "parser": ev["parser"]}
    return out


def evaluation_results(config: dict) -> list[str]:
    return [f"{EVAL.format(dataset=d, model=m, protocol=p)}.json" for d, m, p in evaluation_jobs(config)]


# ---- option-order seeds (evaluation.option_seeds): the options file's own order (options.seed)
# is evaluated at EVAL; every other seed re-arranges the same options, at SEED_EVAL

SEED_EVAL = "results/eval/{dataset}/{model}/seed{seed}/{protocol}"


def option_seeds(config: dict) -> list[int]:
    """The option orders every (blind-)mc4 evaluation runs: options.seed (the file's own order)
    first, then the other seeds of evaluation.option_seeds."""
    own = config["options"]["seed"]
    return [own] + [s for s in config["evaluation"].get("option_seeds") or [] if s != own]


def seed_jobs(config: dict) -> list[tuple[str, str, str, int]]:
    """(dataset, model, protocol, seed) of every evaluation in another order than the file's."""
    extra = option_seeds(config)[1:]
    return [(d, m, p, s) for d, m, p in evaluation_jobs(config) if mc4_source(p) is not None for s in extra]


def seed_results(config: dict) -> list[str]:
    return [f"{SEED_EVAL.format(dataset=d, model=m, protocol=p, seed=s)}.json" for d, m, p, s in seed_jobs(config)]


def per_class_jobs(config: dict) -> list[dict]:
    """Every evaluation's rows (the file's option order) with its data set's classes: what the
    per-class table and the confusions read."""
    return [{"dataset": d, "model": m, "protocol": p, "rows": f"{EVAL.format(dataset=d, model=m, protocol=p)}.jsonl",
             "classes": f"{DATA.format(dataset=d)}/classes.csv"} for d, m, p in evaluation_jobs(config)]


def per_class_inputs(config: dict) -> list[str]:
    return list(dict.fromkeys(f for job in per_class_jobs(config) for f in (job["rows"], job["classes"])))


PER_CLASS = "results/summary/per_class"
CONFUSIONS = "results/summary/confusions"
COMPARE = "results/summary/compare"


def compare_jobs(config: dict) -> list[dict]:
    """evaluation.compare: for each named pair [a, b], every evaluation both ran (same data set
    and protocol), with the two rows files."""
    evaluated, out = set(evaluation_jobs(config)), []
    for a, b in config["evaluation"].get("compare") or []:
        for ds, model, protocol in evaluation_jobs(config):
            if model == a and (ds, b, protocol) in evaluated:
                out.append({"dataset": ds, "protocol": protocol, "a": a, "b": b,
                            **{f"{role}_rows": f"{EVAL.format(dataset=ds, model=m, protocol=protocol)}.jsonl"
                               for role, m in (("a", a), ("b", b))}})
    return out


def compare_inputs(config: dict) -> list[str]:
    return list(dict.fromkeys(f for job in compare_jobs(config) for f in (job["a_rows"], job["b_rows"])))


def evaluation_targets(config: dict) -> list[str]:
    jobs = evaluation_jobs(config)
    out = [f"{EVAL.format(dataset=d, model=m, protocol=p)}.{ext}" for d, m, p in jobs for ext in ("jsonl", "json")]
    out += [f"{SEED_EVAL.format(dataset=d, model=m, protocol=p, seed=s)}.{ext}" for d, m, p, s in seed_jobs(config)
            for ext in ("jsonl", "json")]
    out += [f"{PER_CLASS}.csv", f"{CONFUSIONS}.csv"] if jobs else []
    out += [f"{COMPARE}.{ext}" for ext in ("csv", "md")] if compare_jobs(config) else []
    return out + ([f"{SUMMARY}.{ext}" for ext in ("csv", "md", "png")] + [LETTER_BIAS, OPTION_ORDERS] if jobs else [])


LETTER_BIAS = "results/summary/letter_bias.csv"
OPTION_ORDERS = "results/summary/option_seeds.csv"
