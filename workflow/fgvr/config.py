"""Config checking: JSON Schema (config/schema.yaml) with defaults filled in, then the checks a
schema cannot express. Every error names the config key and what was expected, and all of it
runs when the Snakefile is parsed, before any job starts."""
from __future__ import annotations

from pathlib import Path

import yaml

from .datasets import LOADERS

MODEL_SOURCES = ("build", "path", "hf_id", "finetune")


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _validator(schema: dict):
    """A Draft 2020-12 validator that also fills in each property's ``default``."""
    from jsonschema import Draft202012Validator, validators

    base_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, _copy(sub["default"]))
        yield from base_properties(validator, props, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": properties})(schema)


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def check_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` in place (defaults added) and return it; raise ConfigError if wrong."""
    from jsonschema.exceptions import best_match

    schema = yaml.safe_load(Path(schema_path).read_text())
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys (datasets, models, analysis ...)")
    _check_dataset_names(config.get("datasets"))
    error = best_match(_validator(schema).iter_errors(config))
    if error is not None:
        leaf = "description" in error.schema and "properties" not in error.schema
        raise ConfigError(f"config key {_key(error.absolute_path)}: {error.message}"
                          + (f" ({error.schema['description']})" if leaf else ""))
    _check_models(config)
    _check_analysis(config)
    _check_descriptions(config)
    _check_options(config)
    _check_finetune(config)
    _check_evaluation(config)
    canonical = _sorted(config)  # Snakemake compares params as text: key order must not matter
    config.clear()
    config.update(canonical)
    return config


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _check_dataset_names(datasets) -> None:
    if not isinstance(datasets, dict):
        return  # the schema reports it
    for name, options in datasets.items():
        loader = options.get("loader", name) if isinstance(options, dict) else name
        if loader not in LOADERS:
            what = f"loader {loader!r}" if isinstance(options, dict) and "loader" in options else "data set"
            raise ConfigError(f"config key datasets.{name}: unknown {what}; known data sets: {sorted(LOADERS)} "
                              "(or give `loader:` one of them)")
        if isinstance(options, dict) and "archive" in options and "root" in options:
            raise ConfigError(f"config key datasets.{name}: give `archive` (the official download files) or `root` "
                              "(the extracted official layout), not both")


def _check_models(config: dict) -> None:
    for name, opts in config["models"].items():
        sources = [s for s in MODEL_SOURCES if s in opts]
        if len(sources) != 1:
            raise ConfigError(f"config key models.{name}: give exactly one of {list(MODEL_SOURCES)}, got {sources}")
        if "family" in opts and "build" not in opts:
            raise ConfigError(f"config key models.{name}.family: only for `build: demo` models (a checkpoint's "
                              "family is read from its config.json)")
        if "build" in opts and opts.get("family"):
            from .models.families import KINDS
            if opts["family"] not in KINDS[opts["kind"]]:
                raise ConfigError(f"config key models.{name}.family: {opts['family']!r} is not a {opts['kind']}; "
                                  f"{opts['kind']} families: {list(KINDS[opts['kind']])}")
        if "build" in opts and opts["vocab_from"] not in config["datasets"]:
            raise ConfigError(f"config key models.{name}.vocab_from: {opts['vocab_from']!r} is not a data set "
                              f"in `datasets` ({sorted(config['datasets'])})")


def _check_analysis(config: dict) -> None:
    analysis, models = config["analysis"], config["models"]
    for kind in ("mllm", "vlm"):
        for i, name in enumerate(analysis[kind]):
            if name not in models:
                raise ConfigError(f"config key analysis.{kind}[{i}]: {name!r} is not a model in `models` "
                                  f"({sorted(models)})")
            if models[name]["kind"] != kind:
                raise ConfigError(f"config key analysis.{kind}[{i}]: model {name!r} has kind "
                                  f"{models[name]['kind']!r}, not {kind!r}")
    if not analysis["mllm"] and not analysis["vlm"]:
        raise ConfigError("config key analysis: list at least one model under mllm or vlm")


def _check_model_kind(config: dict, key: str, name: str, kind: str) -> None:
    if name not in config["models"]:
        raise ConfigError(f"config key {key}: {name!r} is not a model in `models` ({sorted(config['models'])})")
    if config["models"][name]["kind"] != kind:
        raise ConfigError(f"config key {key}: model {name!r} has kind {config['models'][name]['kind']!r}, "
                          f"not {kind!r}")


def _check_descriptions(config: dict) -> None:
    from . import plan

    for i, name in enumerate(config["analysis"].get("datasets") or []):
        if name not in config["datasets"]:
            raise ConfigError(f"config key analysis.datasets[{i}]: {name!r} is not a data set in `datasets` "
                              f"({sorted(config['datasets'])})")
    for name, options in config["datasets"].items():
        mode = plan.description_mode(config, name)
        loader = options.get("loader", name)
        if mode == "ground_truth" and loader not in plan.GROUND_TRUTH_LOADERS:
            raise ConfigError(f"config key datasets.{name}.descriptions: {loader} has no annotations to describe "
                              f"its images from (ground_truth: {list(plan.GROUND_TRUTH_LOADERS)}); use generate or "
                              "{file: my.csv}")
        if mode == "file" and not Path(options["descriptions"]["file"]).is_file():
            raise ConfigError(f"config key datasets.{name}.descriptions.file: {options['descriptions']['file']} "
                              "does not exist")
        if mode == "generate":
            generator = plan.generator(config)
            key = "descriptions.generator"
            if generator is None:
                raise ConfigError(f"config key {key}: datasets.{name} generates its descriptions, but no MLLM is "
                                  "named here or in analysis.mllm")
            _check_model_kind(config, key, generator, "mllm")


def _check_options(config: dict) -> None:
    from . import plan

    vlm = plan.negatives_vlm(config)
    if vlm is not None:
        _check_model_kind(config, "negatives.vlm", vlm, "vlm")
    for i, source in enumerate(plan.option_sources(config)):
        if source != "foci":
            _check_model_kind(config, f"options.sources[{i}]", source, "vlm")


def _check_evaluation(config: dict) -> None:
    from . import plan

    ev, models = config["evaluation"], config["models"]
    kinds = set()
    for i, name in enumerate(ev["models"]):
        if name not in models:
            raise ConfigError(f"config key evaluation.models[{i}]: {name!r} is not a model in `models` ({sorted(models)})")
        kinds.add(models[name]["kind"])
    protocols = plan.evaluation_protocols(config)
    key = "evaluation.protocols" if ev.get("protocols") is not None else "evaluation.protocols (default)"
    sources = plan.option_sources(config)
    for i, protocol in enumerate(protocols):
        kind = plan.protocol_kind(protocol)
        source = plan.mc4_source(protocol)
        if source is not None and source not in sources:
            raise ConfigError(f"config key {key}[{i}]: {protocol!r} asks for options from {source!r}, which "
                              f"options.sources does not make ({sources})")
        if source not in (None, "foci") and "test" not in config["options"]["splits"]:
            raise ConfigError(f"config key {key}[{i}]: {protocol!r} evaluates on the test split, which "
                              f"options.splits ({config['options']['splits']}) leaves out")
        if ev["models"] and kind not in kinds:
            raise ConfigError(f"config key {key}[{i}]: {protocol!r} is run by a {kind}, and evaluation.models "
                              f"lists none ({ev['models']})")
    for i, pair in enumerate(ev.get("compare") or []):
        for j, name in enumerate(pair):
            if name not in ev["models"]:
                raise ConfigError(f"config key evaluation.compare[{i}][{j}]: {name!r} is not in evaluation.models "
                                  f"({ev['models']})")
        if pair[0] == pair[1]:
            raise ConfigError(f"config key evaluation.compare[{i}]: {pair} compares a model with itself")
    for i, name in enumerate(ev["models"]):
        kind = models[name]["kind"]
        if not any(plan.protocol_kind(p) == kind for p in protocols):
            raise ConfigError(f"config key evaluation.models[{i}]: {name!r} is a {kind}, and none of "
                              f"{protocols} is for a {kind} ({'mc4-{source}, open' if kind == 'mllm' else 'zeroshot'})")


def _check_finetune(config: dict) -> None:
    from . import plan

    for name in plan.finetuned_models(config):
        tune, key = config["models"][name]["finetune"], f"models.{name}.finetune"
        if config["models"][name]["kind"] != "mllm":
            raise ConfigError(f"config key models.{name}.kind: a fine-tuned model is an mllm")
        _check_model_kind(config, f"{key}.from", tune["from"], "mllm")
        if tune["from"] == name:
            raise ConfigError(f"config key {key}.from: a model cannot start from itself")
        for i, dataset in enumerate(tune["datasets"]):
            if dataset not in config["datasets"]:
                raise ConfigError(f"config key {key}.datasets[{i}]: {dataset!r} is not a data set in `datasets` "
                                  f"({sorted(config['datasets'])})")
            if "train" not in plan.splits(config, dataset):
                raise ConfigError(f"config key {key}.datasets[{i}]: {dataset!r} has no train split")
        for stage in ("stage1", "stage2"):
            settings, gpus = tune[stage], max(1, tune["gpus"])
            if settings["batch_size"] % (settings["micro_batch_size"] * gpus):
                raise ConfigError(f"config key {key}.{stage}.batch_size: {settings['batch_size']} is not reached by "
                                  f"micro_batch_size {settings['micro_batch_size']} x gpus {gpus} x a whole number "
                                  "of accumulation steps")
        vlm = plan.finetune_vlm(config, name)
        if vlm is None:
            raise ConfigError(f"config key {key}.options: name the VLM whose negatives and options it trains on")
        _check_model_kind(config, f"{key}.options", vlm, "vlm")
