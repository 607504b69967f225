"""The demo end to end: snakemake on config/config.yaml in a temporary working directory."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.workflow
CONFIG = ROOT / "config" / "config.yaml"


def snakemake(workdir, *args, config=CONFIG):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def planned_jobs(result) -> dict[str, int]:
    """Rule -> count from a dry run's 'Job stats' table."""
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def cfg():
    return yaml.safe_load(CONFIG.read_text())


def test_embeddings_follow_the_contract(demo, cfg):
    manifest = pd.read_csv(demo / "results/data/synthetic/manifest.csv")
    classes = pd.read_csv(demo / "results/data/synthetic/classes.csv")
    assert len(classes) == cfg["datasets"]["synthetic"]["classes"]
    keys = {"demo-mllm": ["connector.mean", "llm.last", "llm.mean", "vision.mean"], "demo-vlm": ["embed", "vision.mean"]}
    for model, expected in keys.items():
        hidden = json.loads((demo / f"resources/models/{model}/config.json").read_text())
        for split in ("train", "test"):
            rows = manifest[manifest["split"] == split]
            with h5py.File(demo / f"results/embeddings/synthetic/{model}/{split}.h5") as f:
                assert sorted(f["objects"]) == expected
                assert f["labels"][:].tolist() == rows["label"].tolist()
                assert f["image_ids"].asstr()[:].tolist() == rows["image_id"].astype(str).tolist()
                for key in expected:
                    values = f["objects"][key][:]
                    assert values.shape[0] == len(rows) and np.isfinite(values).all()
                    assert values.std(0).mean() > 0  # not constant
                size = hidden["text_config"]["hidden_size"] if model == "demo-mllm" else hidden["vision_config"]["hidden_size"]
                assert f["objects"]["llm.last" if model == "demo-mllm" else "embed"].shape[1] == size
                assert f.attrs["demo"] and f.attrs["model"] == model
        with h5py.File(demo / f"results/embeddings/synthetic/{model}/categories.h5") as f:
            assert f["class_names"].asstr()[:].tolist() == classes["class_name"].tolist()
            assert f["names"][list(f["names"])[0]].shape[0] == len(classes)


def test_probes_beat_chance(demo):
    for model in ("demo-mllm", "demo-vlm"):
        probe = json.loads((demo / f"results/analysis/synthetic/{model}/probe.json").read_text())
        objects = probe["results"]["objects"]
        chance = next(iter(objects.values()))["chance"]
        assert chance == pytest.approx(1 / 12)
        assert max(r["accuracy"] for r in objects.values()) > 2 * chance
        # descriptions state the attributes, so even a random text tower separates them
        assert min(r["accuracy"] for r in probe["results"]["descriptions"].values()) > 0.5


def test_alignment_and_figures(demo, cfg):
    alignment = json.loads((demo / "results/analysis/synthetic/demo-mllm/alignment.json").read_text())
    assert set(alignment["results"]["names"]) == {"llm.last", "llm.mean"}
    names = alignment["results"]["names"]["llm.last"]
    assert alignment["n_objects"] == 12 * 10 and alignment["n_categories"] == 12
    assert names["chance"] == pytest.approx(1 / 12)
    assert names["gap"] == pytest.approx(names["cos_matched"] - names["cos_unmatched"], abs=1e-6)
    for pooling in cfg["analysis"]["poolings"]:
        points = pd.read_csv(demo / f"results/plots/synthetic/tsne_{pooling}.csv")
        k = cfg["analysis"]["tsne"]["classes"]
        assert list(dict.fromkeys(points["panel"])) == list("abcdef")
        chosen = points[points["chosen"]]
        assert points["model"].nunique() == 2 and chosen["class_name"].nunique() == k
        # names: all 12 in panels b and e (k of them chosen), the k chosen ones in c and f
        assert (chosen["what"] == "name").sum() == 4 * k and (points["what"] == "name").sum() == 2 * (12 + k)
        assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    summary = pd.read_csv(demo / "results/analysis/synthetic/summary.csv")
    assert set(summary["model"]) == {"demo-mllm", "demo-vlm"} and summary["demo"].all()


def test_every_job_wrote_its_log(demo):
    logs = {p.relative_to(demo / "results/logs").as_posix() for p in (demo / "results/logs").rglob("*.log")}
    for model in ("demo-mllm", "demo-vlm"):
        assert {f"extract_objects/synthetic/{model}/{s}.log" for s in ("train", "test")} <= logs
        assert {f"build_demo_model/{model}.log", f"linear_probe/synthetic/{model}.log"} <= logs
    assert {"tsne/synthetic/last.log", "tsne/synthetic/mean.log", "summary/synthetic.log"} <= logs
    assert "demo-mllm objects" in (demo / "results/logs/extract_objects/synthetic/demo-mllm/test.log").read_text()
    assert "synthetic images" in (demo / "results/logs/prepare_dataset/synthetic.log").read_text()


def test_rerun_does_nothing_and_report_gathers_figures(demo):
    assert planned_jobs(snakemake(demo, "-n")) == {}
    result = snakemake(demo, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-2000:]
    html = (demo / "report.html").read_text(errors="replace")
    assert "tsne_last.png" in html and "probe.png" in html


def edited(cfg, tmp_path, edit):
    cfg = yaml.safe_load(yaml.safe_dump(cfg))  # a deep copy, keys reordered on purpose
    edit(cfg)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "c.yaml"


def test_changing_tsne_settings_reruns_only_tsne(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["analysis"]["tsne"].__setitem__("perplexity", 5))
    assert set(planned_jobs(snakemake(demo, "-n", config=changed))) == {"tsne", "all"}


@pytest.mark.parametrize("edit", [
    lambda c: c["extraction"].__setitem__("num_workers", 2),
    lambda c: c["extraction"].__setitem__("batch_size", 7),
    lambda c: c["models"]["demo-mllm"].__setitem__("batch_size", 5),
    lambda c: c["extraction"].__setitem__("device", "cpu"),
])
def test_speed_settings_rerun_nothing(demo, cfg, tmp_path, edit):
    assert planned_jobs(snakemake(demo, "-n", config=edited(cfg, tmp_path, edit))) == {}


def test_changing_a_model_reruns_its_chain_only(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["models"]["demo-vlm"].__setitem__("seed", 3))
    jobs = planned_jobs(snakemake(demo, "-n", config=changed))
    assert jobs["build_demo_model"] == 1 and jobs["extract_objects"] == 2 and "prepare_dataset" not in jobs


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["datasets"].__setitem__("synthtic", c["datasets"].pop("synthetic")), "datasets.synthtic"),
    (lambda c: c["datasets"]["synthetic"].__setitem__("images_per_class", "forty"), "datasets.synthetic.images_per_class"),
])
def test_bad_config_fails_before_any_job(cfg, tmp_path, edit, key):
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    edit(cfg)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    result = snakemake(tmp_path, config=tmp_path / "bad.yaml")
    assert result.returncode != 0
    assert f"config key {key}:" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--lint"],
                            capture_output=True, text=True, cwd=ROOT)
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_paper_config_plans_its_whole_dag_offline(tmp_path):
    """config/paper.yaml: Idefics2-8B + SigLIP over the six data sets, planned with no network."""
    result = snakemake(tmp_path, "-n", config=ROOT / "config" / "paper.yaml")
    jobs = planned_jobs(result)
    # train and test of six data sets (flowers102's and aircraft100's val split is not analysed)
    assert jobs["extract_objects"] == 2 * 6 * 2
    assert jobs["fetch_model"] == 2 and jobs["prepare_dataset"] == 6 and jobs["download_dataset"] == 13
    text = result.stdout + result.stderr
    extraction = [block for block in text.split("\n\n") if "rule extract_objects:" in block]
    assert extraction and all("gpu=1" in block and "mem_mb=" in block and "runtime=" in block
                              for block in extraction)
