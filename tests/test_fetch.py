"""fetch_model against a local Hugging Face cache in offline mode (no test touches the network)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import h5py
import yaml
from conftest import ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(home, checkpoint, repo="tiny-org/tiny-vlm"):
    """The layout huggingface_hub keeps: refs/<branch> names a commit, snapshots/<commit> holds files."""
    base = home / "hub" / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(COMMIT)
    shutil.copytree(checkpoint, base / "snapshots" / COMMIT)
    return repo


def run(workdir, config, home, *targets):
    env = dict(os.environ, HF_HOME=str(home), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--cores", "2", *targets]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_fetched_checkpoint_records_its_commit_through_extraction(tmp_path, demo_checkpoints):
    repo = fake_cache(tmp_path / "hf", demo_checkpoints["vlm"])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"synthetic": {"classes": 3, "images_per_class": 4, "image_size": 32}},
        "models": {"hub-vlm": {"kind": "vlm", "hf_id": repo}},
        "analysis": {"vlm": ["hub-vlm"]}}))
    result = run(tmp_path / "w", config, tmp_path / "hf", "results/embeddings/synthetic/hub-vlm/test.h5")
    assert result.returncode == 0, result.stderr[-3000:]
    fetched = tmp_path / "w/resources/models/hub-vlm"
    assert yaml.safe_load((fetched / "fgvr_source.json").read_text())["commit"] == COMMIT
    assert not any(p.is_symlink() for p in fetched.rglob("*"))  # real files, not links into the cache
    with h5py.File(tmp_path / "w/results/embeddings/synthetic/hub-vlm/test.h5") as f:
        assert f.attrs["revision"] == COMMIT and f["objects/embed"].shape[0] == 3


def test_missing_from_the_offline_cache_names_the_repo(tmp_path):
    code = ("import sys; sys.path.insert(0, %r); from fgvr.models.fetch import fetch; "
            "fetch('nobody/nothing', 'main', %r)" % (str(ROOT / "workflow"), str(tmp_path / "out")))
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "cannot fetch nobody/nothing@main" in result.stderr and "HF_HUB_OFFLINE" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_interrupted_fetch_resumes_from_its_staging_folder(tmp_path, demo_checkpoints):
    """A leftover <out>.download (a killed run) is completed, not an error."""
    repo = fake_cache(tmp_path / "hf", demo_checkpoints["mllm"])
    staging = tmp_path / "out.download"
    staging.mkdir()
    (staging / "config.json").write_text("{}")  # half-copied
    code = ("import sys; sys.path.insert(0, %r); from fgvr.models.fetch import fetch; print(fetch(%r, 'main', %r))"
            % (str(ROOT / "workflow"), repo, str(tmp_path / "out")))
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    for source in demo_checkpoints["mllm"].iterdir():  # every file whole, the weights included
        assert (tmp_path / "out" / source.name).read_bytes() == source.read_bytes(), source.name
    assert any(p.suffix == ".safetensors" for p in demo_checkpoints["mllm"].iterdir())
    assert not staging.exists()
