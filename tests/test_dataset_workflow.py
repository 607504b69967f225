"""The data set config keys and their Snakemake wiring: download jobs only for entries without
`archive`/`root`, a cut download resumed by the next run (through a loopback server), unpacking
as a rule of its own, and a `root`'s metadata files as inputs."""
from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from loopback import Loopback
from official_fixtures import FOCI_DIR, jpeg_bytes, make, needs_foci, pack

from fgvr import datasets
from fgvr.config import ConfigError, check_config
from fgvr.datasets.download import location

SCHEMA = ROOT / "config" / "schema.yaml"
PAPER_SETS = ["cub200", "cars196", "dogs120", "flowers102", "pets37", "aircraft100"]
MODELS = {"demo-mllm": {"kind": "mllm", "build": "demo", "vocab_from": "cub200"}}


def config(**sets):
    return {"datasets": sets, "models": copy.deepcopy(MODELS), "analysis": {"mllm": ["demo-mllm"]}}


@pytest.mark.parametrize("name", PAPER_SETS)
def test_download_locations_come_from_the_spec_alone(name):
    """The URLs are written once, in the loader's spec: the schema fills in none."""
    cfg = check_config(config(**{"cub200": {}, name: {}}), SCHEMA)
    options, spec = cfg["datasets"][name], datasets.spec(name, {})
    assert "url" not in options and "mirrors" not in options
    assert options["retries"] == 3 and options["timeout"] == 60
    assert "archive" not in options and "root" not in options
    for file in spec.files:
        expected = tuple(location(t, file) for t in (spec.url, *spec.mirrors))
        assert datasets.remote(name, options, file).urls == expected
    assert spec.url.startswith("http") and spec.name == name
    assert not any(spec.url.split("{")[0] in line for line in SCHEMA.read_text().splitlines())


def test_schema_loaders_are_the_registry():
    schema = yaml.safe_load(SCHEMA.read_text())
    sets = schema["properties"]["datasets"]
    assert schema["$defs"]["loader_name"]["enum"] == list(datasets.LOADERS)
    assert list(sets["properties"]) == list(datasets.LOADERS)
    assert [rule["if"]["properties"]["loader"]["const"] for rule in sets["additionalProperties"]["allOf"]] == list(
        datasets.LOADERS)
    for name in datasets.LOADERS:
        assert schema["$defs"][name]["properties"]["loader"] == {"const": name}
        assert (datasets.spec(name, {}) is not None) == (name in PAPER_SETS)


def test_an_alias_gets_its_loaders_defaults():
    cfg = check_config(config(cub200={}, birds={"loader": "cub200", "archive": "/data/cub"}), SCHEMA)
    assert cfg["datasets"]["birds"]["retries"] == 3
    assert datasets.downloads("birds", cfg["datasets"]["birds"]) == []
    assert datasets.remote("birds", {"loader": "cub200"}, "CUB_200_2011.tgz").urls[0].startswith(
        "https://data.caltech.edu/")


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


@pytest.fixture(scope="module")
def local_copies(tmp_path_factory):
    """A CUB archive folder, a Pets root and a folder-loader root, in the official formats."""
    base = tmp_path_factory.mktemp("local")
    pack("cub200", make("cub200", base / "cub"), base / "cub-archive")
    make("pets37", base / "pets")
    for split in ("train", "test"):
        (base / "mine" / split / "Red_Bird").mkdir(parents=True)
        (base / "mine" / split / "Red_Bird" / "a.jpg").write_bytes(jpeg_bytes())
    return {"cub": base / "cub-archive", "pets": base / "pets", "mine": base / "mine"}


def test_dry_run_downloads_only_what_the_config_asks_for(tmp_path, local_copies):
    everything = config(**{n: {} for n in PAPER_SETS})
    planned = jobs(snakemake(tmp_path, everything, "-n"))
    assert planned["download_dataset"] == 1 + 4 + 2 + 3 + 2 + 1
    assert planned["unpack_dataset"] == planned["prepare_dataset"] == 6
    local = config(cub200={"archive": str(local_copies["cub"])}, pets37={"root": str(local_copies["pets"])},
                   aircraft100={}, mine={"loader": "folder", "root": str(local_copies["mine"])})
    planned = jobs(snakemake(tmp_path, local, "-n"))
    assert planned["download_dataset"] == 1 and planned["prepare_dataset"] == 4
    assert planned["unpack_dataset"] == 2  # cub200 (archive) and aircraft100 (download); not the roots
    result = snakemake(tmp_path, local, "-n", "resources/downloads/cub200/CUB_200_2011.tgz")
    assert result.returncode != 0  # no rule downloads a data set given as archive


@pytest.mark.parametrize("entry, message", [
    ({"archive": "{tmp}"}, r"{tmp}/CUB_200_2011.tgz: missing \(datasets.cub200.archive must be a folder holding"),
    ({"root": "{tmp}/nope"}, r"datasets.cub200.root: {tmp}/nope is not a folder \(expected the folder CUB_200_2011"),
    ({"root": "{tmp}"}, r"{tmp}/classes.txt: missing metadata file \(datasets.cub200.root must be the folder"),
])
def test_a_missing_official_file_is_named_before_any_job(tmp_path, entry, message):
    entry = {k: v.format(tmp=tmp_path) for k, v in entry.items()}
    result = snakemake(tmp_path, config(cub200=entry), "-n")
    assert result.returncode != 0
    assert re.search(message.format(tmp=re.escape(str(tmp_path))), result.stdout + result.stderr)


def test_unpacking_is_a_rule_and_root_metadata_are_inputs(tmp_path, local_copies):
    """An archive is unpacked by its own job into a declared folder; with `root`, a changed
    metadata file reruns the manifest, a touched image does not."""
    pets = shutil.copytree(local_copies["pets"], tmp_path / "pets")
    cfg = config(cub200={"archive": str(local_copies["cub"])}, pets37={"root": str(pets)})
    targets = ["results/data/cub200/manifest.csv", "results/data/pets37/manifest.csv"]
    done = jobs(snakemake(tmp_path, cfg, *targets))
    assert done["unpack_dataset"] == 1 and done["prepare_dataset"] == 2
    unpacked = tmp_path / "resources/datasets/cub200"
    assert (unpacked / "CUB_200_2011" / "classes.txt").is_file()
    assert (tmp_path / "results/logs/unpack_dataset/cub200.log").exists()
    manifest = (tmp_path / targets[0]).read_text().splitlines()
    assert all(",resources/datasets/cub200/CUB_200_2011/images/" in line for line in manifest[1:])
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(tmp_path, cfg, *targets, "-n"))

    # a deleted extraction is a missing rule output: asked for (or needed by a job that runs) it
    # is made again, and the manifest made from it is then out of date
    shutil.rmtree(unpacked)
    assert jobs(snakemake(tmp_path, cfg, "resources/datasets/cub200")) == {"unpack_dataset": 1}
    assert jobs(snakemake(tmp_path, cfg, targets[0], "-n")) == {"prepare_dataset": 1}

    later = os.stat(tmp_path / targets[1]).st_mtime + 5
    os.utime(pets / "images" / "Abyssinian_201.jpg", (later, later))
    result = snakemake(tmp_path, cfg, targets[1], "-n")
    assert "Nothing to be done" in result.stdout + result.stderr  # images are not inputs
    labels = pets / "annotations" / "test.txt"
    lines = labels.read_text().splitlines(keepends=True)
    labels.write_text("".join(lines[:-1]))  # the last test image leaves the official list
    os.utime(labels, (later, later))
    assert jobs(snakemake(tmp_path, cfg, targets[1])) == {"prepare_dataset": 1}
    rows = (tmp_path / targets[1]).read_text().splitlines()
    assert len(rows) == len(lines) + 2 * 3 + 1 - 1 and not any(r.startswith(lines[-1].split()[0] + ",") for r in rows)


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


# ------------------------------------------------------------------------------ FOCI's option files

def test_foci_files_are_fetched_from_the_pinned_commit_by_default():
    from fgvr.options import FOCI_COMMIT, FOCI_FILES, FOCI_SHA256, foci_file, foci_remote

    assert set(FOCI_FILES.values()) == set(FOCI_SHA256)
    for name, file in FOCI_FILES.items():
        remote = foci_remote(file)
        assert remote.urls == (f"https://raw.githubusercontent.com/PKU-ICST-MIPL/Finedefics_ICLR2025/{FOCI_COMMIT}/"
                               f"FOCI-Benchmark/data/{file}",)
        assert remote.checksum == f"sha256:{FOCI_SHA256[file]}" and len(FOCI_SHA256[file]) == 64
        assert str(foci_file(name)) == f"resources/foci/{file}"  # inside the project, not beside it
        assert str(foci_file(name, "/copies")) == f"/copies/{file}"
        assert foci_remote(file, "http://mirror/{file}").urls == (f"http://mirror/{file}",)


@needs_foci("pets37")
def test_foci_download_rule_resumes_and_verifies(tmp_path):
    """rule download_foci through a loopback mirror (options.foci_url): a cut transfer resumes
    with a Range request and gives the official bytes; a file whose bytes differ from the pinned
    checksum is refused by name and nothing is left behind."""
    from fgvr.options import FOCI_FILES

    pets, cars = FOCI_FILES["pets37"], FOCI_FILES["cars196"]
    data = (FOCI_DIR / pets).read_bytes()
    cfg = config(cub200={"archive": "/nowhere"})
    with Loopback() as server:
        server.files[f"mirror/{pets}"] = data
        server.files[f"mirror/{cars}"] = data  # the wrong bytes for this name
        server.cut.add(f"mirror/{pets}")
        cfg["options"] = {"foci_url": f"{server.url}/mirror/{{file}}"}
        done = jobs(snakemake(tmp_path, cfg, f"resources/foci/{pets}"))
        assert done == {"download_foci": 1}
        assert (f"mirror/{pets}", f"bytes={len(data) // 2}-") in server.requests  # resumed, not restarted
        assert (tmp_path / "resources/foci" / pets).read_bytes() == data
        refused = snakemake(tmp_path, cfg, f"resources/foci/{cars}")
    assert refused.returncode != 0
    log = (tmp_path / f"results/logs/download_foci/{cars}.log").read_text()
    assert f"sha256 checksum mismatch for {cars}" in log and "the file was deleted" in log
    assert not list((tmp_path / "resources/foci").glob("car-*"))
