import copy
import re

import pytest
import yaml
from conftest import ROOT

from fgvr.config import ConfigError, check_config

SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.fixture
def demo():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def check(cfg):
    return check_config(copy.deepcopy(cfg), SCHEMA)


def test_demo_config_gets_defaults(demo):
    cfg = check(demo)
    assert cfg["datasets"]["synthetic"]["test_fraction"] == 0.25
    assert cfg["models"]["demo-mllm"]["dtype"] == "auto"
    assert cfg["extraction"]["device"] == "auto"
    assert cfg["analysis"]["probe"]["max_iter"] == 2000
    assert cfg["analysis"]["tsne"]["split"] == "test"


@pytest.mark.parametrize("mutate, key, expected", [
    (lambda c: c["datasets"].__setitem__("synthtic", c["datasets"].pop("synthetic")), "datasets.synthtic",
     "unknown data set"),
    (lambda c: c["datasets"]["synthetic"].__setitem__("classes", "twelve"), "datasets.synthetic.classes",
     "not of type 'integer'"),
    (lambda c: c["datasets"]["synthetic"].__setitem__("image_size", 4), "datasets.synthetic.image_size",
     "less than the minimum"),
    (lambda c: c["datasets"].__setitem__("mine", {"loader": "nope"}), "datasets.mine", "unknown loader 'nope'"),
    (lambda c: c["datasets"].__setitem__("syn2", {"loader": "synthetic", "seed": "x"}), "datasets.syn2.seed",
     "not of type 'integer'"),
    (lambda c: c["models"]["demo-mllm"].__setitem__("kind", "llm"), "models.demo-mllm.kind", "is not one of"),
    (lambda c: c["models"]["demo-vlm"].__setitem__("path", "/x"), "models.demo-vlm", "exactly one of"),
    (lambda c: c["analysis"].__setitem__("mllm", ["nope"]), "analysis.mllm[0]", "not a model"),
    (lambda c: c["analysis"].__setitem__("vlm", ["demo-mllm"]), "analysis.vlm[0]", "has kind 'mllm'"),
    (lambda c: c["analysis"]["tsne"].__setitem__("perplexity", "high"), "analysis.tsne.perplexity",
     "not of type 'number'"),
    (lambda c: c["models"]["demo-vlm"].__setitem__("vocab_from", "cub"), "models.demo-vlm.vocab_from",
     "not a data set"),
    (lambda c: c.__setitem__("extra", 1), "(top level)", "'extra' was unexpected"),
])
def test_bad_config_names_the_key(demo, mutate, key, expected):
    mutate(demo)
    with pytest.raises(ConfigError) as err:
        check(demo)
    assert f"config key {key}:" in str(err.value)
    assert expected in str(err.value)


def test_key_order_does_not_matter(demo):
    """Snakemake compares params as text, so a reordered YAML file must give the same config."""
    shuffled = {k: demo[k] for k in reversed(list(demo))}
    shuffled["datasets"]["synthetic"] = dict(reversed(list(demo["datasets"]["synthetic"].items())))
    assert repr(check(shuffled)) == repr(check(demo))


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["models"].__setitem__("my model", c["models"].pop("demo-vlm")), "models"),
    (lambda c: c["datasets"].__setitem__("a/b", {"loader": "synthetic"}), "datasets"),
    (lambda c: c["extraction"].__setitem__("device", "gpu"), "extraction.device"),
])
def test_names_and_devices_are_checked(demo, mutate, key):
    demo.setdefault("extraction", {})
    mutate(demo)
    with pytest.raises(ConfigError, match=f"config key {re.escape(key)}:"):
        check(demo)
