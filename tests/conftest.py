"""Shared fixtures: a small synthetic data set and the two demo checkpoints, built once per session."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

def pytest_runtest_setup(item):
    """Under CI a test that needs a missing FOCI file fails (official_fixtures.needs_foci)."""
    marker = item.get_closest_marker("foci_missing")
    if marker is not None:
        pytest.fail(f"CI=true: {marker.kwargs['reason']}", pytrace=False)


SMALL = {"classes": 6, "images_per_class": 12, "image_size": 32, "test_fraction": 0.25, "seed": 0}


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    from fgvr.datasets import synthetic

    out = tmp_path_factory.mktemp("synthetic")
    synthetic.prepare(dict(SMALL), out, progress=False)
    return out


@pytest.fixture(scope="session")
def dataset_texts(small_dataset) -> list[str]:
    from fgvr.datasets.manifest import read_classes, read_descriptions

    classes = read_classes(small_dataset / "classes.csv")
    return (classes["class_name"].tolist() + classes["description"].tolist()
            + list(read_descriptions(small_dataset / "ground_truth.csv").values()))


@pytest.fixture(scope="session")
def demo_checkpoints(tmp_path_factory, dataset_texts) -> dict[str, Path]:
    from fgvr.models.demo import build_demo

    root = tmp_path_factory.mktemp("models")
    return {kind: build_demo(kind, root / kind, dataset_texts, image_size=32) for kind in ("mllm", "vlm")}


# every family this suite builds (an independent list: test_families checks the table against it);
# the first seven MLLMs and the VLMs have outputs frozen from before the generic adapter
FROZEN_FAMILIES = ["idefics2", "idefics3", "smolvlm", "llava", "llava_next", "qwen2_vl", "qwen2_5_vl",
                   "siglip", "siglip2", "clip"]
NEW_FAMILIES = ["llava_onevision", "internvl", "gemma3", "paligemma", "mistral3", "pixtral", "qwen3_vl"]
FAMILY_KIND = [(f, "vlm" if f in ("siglip", "siglip2", "clip") else "mllm") for f in FROZEN_FAMILIES + NEW_FAMILIES]


@pytest.fixture(scope="session")
def family_checkpoints(tmp_path_factory, dataset_texts) -> dict[str, Path]:
    """A tiny checkpoint of every supported family, each a real Hugging Face folder."""
    from fgvr.models.demo import build_demo

    root = tmp_path_factory.mktemp("families")
    return {f: build_demo(k, root / f, dataset_texts, image_size=32, family=f) for f, k in FAMILY_KIND}


@pytest.fixture(scope="session")
def adapters(demo_checkpoints):
    from fgvr.models import load_adapter

    return {kind: load_adapter(path, kind) for kind, path in demo_checkpoints.items()}


@pytest.fixture(scope="session")
def full(tmp_path_factory):
    """name -> (manifest, classes) prepared from `root` holding the full official-format fixture
    of that data set (tests/official_fixtures.py; built once per session, on first use)."""
    from fgvr import datasets
    from fgvr.datasets.manifest import read_classes, read_manifest
    from official_fixtures import make

    cache = {}

    def get(name):
        if name not in cache:
            base = tmp_path_factory.mktemp(f"full-{name}")
            root = make(name, base / "official", full=True)
            datasets.prepare(name, {"root": str(root)}, base / "out", resources=base / "resources", progress=False)
            cache[name] = (read_manifest(base / "out" / "manifest.csv"), read_classes(base / "out" / "classes.csv"))
        return cache[name]

    return get
