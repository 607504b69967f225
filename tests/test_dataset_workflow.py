"""The data set config keys and their Snakemake wiring: download jobs only for entries without
`archive`/`root`, a cut download resumed by the next run, all through a loopback server."""
from __future__ import annotations

import copy
import hashlib
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from loopback import Loopback
from official_fixtures import FOCI_DIR, make, pack

from fgvr import datasets
from fgvr.config import ConfigError, check_config

SCHEMA = ROOT / "config" / "schema.yaml"
PAPER_SETS = ["cub200", "cars196", "dogs120", "flowers102", "pets37", "aircraft100"]
MODELS = {"demo-mllm": {"kind": "mllm", "build": "demo", "vocab_from": "cub200"}}


def config(**sets):
    return {"datasets": sets, "models": copy.deepcopy(MODELS), "analysis": {"mllm": ["demo-mllm"]}}


@pytest.mark.parametrize("name", PAPER_SETS)
def test_schema_defaults_are_the_official_locations(name):
    cfg = check_config(config(**{"cub200": {}, name: {}}), SCHEMA)
    options, module = cfg["datasets"][name], datasets.get_loader(name, {})
    assert options["url"] == module.URL and options["mirrors"] == module.MIRRORS
    assert options["retries"] == 3 and options["timeout"] == 60
    assert "archive" not in options and "root" not in options


def test_an_alias_gets_its_loaders_defaults():
    cfg = check_config(config(cub200={}, birds={"loader": "cub200", "archive": "/data/cub"}), SCHEMA)
    assert cfg["datasets"]["birds"]["url"] == datasets.get_loader("cub200", {}).URL
    assert datasets.downloads("birds", cfg["datasets"]["birds"]) == []


@pytest.mark.parametrize("sets, key, expected", [
    ({"cub200": {"archive": "/a", "root": "/b"}}, "datasets.cub200", "give `archive`"),
    ({"cub200": {}, "pets37": {"rooot": "/b"}}, "datasets.pets37", "'rooot' was unexpected"),
    ({"cub200": {}, "mine": {"loader": "folder"}}, "datasets.mine", "'root' is a required property"),
    ({"cub200": {}, "mine": {"loader": "fodler", "root": "/x"}}, "datasets.mine", "unknown loader 'fodler'"),
    ({"cub200": {}, "cub201": {}}, "datasets.cub201", "unknown data set"),
    ({"cub200": {"retries": -1}}, "datasets.cub200.retries", "less than the minimum"),
    ({"cub200": {"mirrors": "http://x"}}, "datasets.cub200.mirrors", "not of type 'array'"),
    ({"cub200": {}, "mine": {"loader": "folder", "root": "/x", "val": "yes"}}, "datasets.mine.val",
     "not of type 'boolean'"),
])
def test_bad_dataset_config_names_the_key(sets, key, expected):
    with pytest.raises(ConfigError) as err:
        check_config(config(**sets), SCHEMA)
    assert f"config key {key}:" in str(err.value) and expected in str(err.value)


# ------------------------------------------------------------------------------ Snakemake

def snakemake(workdir, cfg, *args, **env_vars):
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, no_proxy="127.0.0.1,localhost", **env_vars)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(path), "--cores", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def jobs(result) -> dict[str, int]:
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    table = (result.stdout + result.stderr).split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_dry_run_downloads_only_what_the_config_asks_for(tmp_path):
    everything = config(**{n: {} for n in PAPER_SETS})
    assert jobs(snakemake(tmp_path, everything, "-n"))["download_dataset"] == 1 + 4 + 2 + 3 + 2 + 1
    local = config(cub200={"archive": "/data/cub"}, pets37={"root": "/data/pets"}, aircraft100={},
                   mine={"loader": "folder", "root": "/data/mine"})
    planned = jobs(snakemake(tmp_path, local, "-n"))
    assert planned["download_dataset"] == 1 and planned["prepare_dataset"] == 4
    result = snakemake(tmp_path, local, "-n", "resources/downloads/cub200/CUB_200_2011.tgz")
    assert result.returncode != 0  # no rule downloads a data set given as archive


@pytest.mark.skipif(not FOCI_DIR.is_dir(), reason="FOCI option files not found")
def test_download_rule_resumes_then_prepares(tmp_path):
    official = make("aircraft100", tmp_path / "official")
    pack("aircraft100", official, tmp_path / "served")
    data = (tmp_path / "served" / "fgvc-aircraft-2013b.tar.gz").read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    target = "results/data/aircraft100/manifest.csv"
    cache = {"SNAKEMAKE_OUTPUT_CACHE": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    with Loopback() as server:
        server.files["fgvc-aircraft-2013b.tar.gz"] = data
        server.cut.add("fgvc-aircraft-2013b.tar.gz")
        cfg = config(aircraft100={"url": f"{server.url}/{{file}}", "retries": 0}, cub200={"archive": "/nowhere"})
        first = snakemake(work, cfg, target)
        assert first.returncode != 0
        log = (work / "results/logs/download_dataset/aircraft100/fgvc-aircraft-2013b.tar.gz.log").read_text()
        assert "next run resumes them" in log
        part = work / "resources/downloads/aircraft100/fgvc-aircraft-2013b.tar.gz.part"
        assert part.stat().st_size == len(data) // 2
        second = snakemake(work, cfg, target, "--cache", "download_dataset", **cache)
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.requests[-1] == ("fgvc-aircraft-2013b.tar.gz", f"bytes={len(data) // 2}-")
    downloaded = work / "resources/downloads/aircraft100/fgvc-aircraft-2013b.tar.gz"
    assert downloaded.read_bytes() == data
    record = work / "resources/checksums/aircraft100/fgvc-aircraft-2013b.tar.gz.sha256"
    assert record.read_text().split()[0] == hashlib.sha256(data).hexdigest()
    manifest = (work / target).read_text().splitlines()
    assert len(manifest) == 1 + 3 * 2 + 2 * 3 * 2  # 6 test, 6 train, 6 val images
    assert all(line.split(",")[1].startswith("resources/datasets/aircraft100/fgvc-aircraft-2013b/data/images/")
               for line in manifest[1:])
    assert (work / "results/benchmarks/prepare_dataset/aircraft100.tsv").exists()
    again = snakemake(work, cfg, target, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # another workflow (the server is gone) takes the download from the between-workflow cache
    other = tmp_path / "other"
    other.mkdir()
    result = snakemake(other, cfg, target, "--cache", "download_dataset", **cache)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "from cache" in result.stdout + result.stderr
    assert (other / "resources/downloads/aircraft100/fgvc-aircraft-2013b.tar.gz").read_bytes() == data
    assert (other / target).read_text().count("\n") == len(manifest)
