"""Used as a user of the Snakemake workflow catalog uses it ("standardized usage"): deployed with
snakedeploy into an empty folder, where a Snakefile loads this clone's workflow/Snakefile as a
`module` with the user's config/config.yaml, then run there offline. Every result lands in that
folder, and its numbers equal a run of the same config from the repository root.

snakedeploy's own code writes the deployment (`deploy-workflow`: config/ and profiles/ copied,
workflow/Snakefile with `module fgvr: snakefile: ... config: config` and `use rule * from fgvr`).
From a local source it names the module's Snakefile by the path inside the source,
"workflow/Snakefile", which Snakemake resolves against the deployed workflow/Snakefile (a
github(...) source has no such problem): the test puts the clone's absolute path there, the
local form of the Snakemake docs' `module` statement (snakefile: a path). The source given to
snakedeploy is a copy of what it reads of the clone (config/, profiles/, workflow/Snakefile), not
the whole folder with .venv and results.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

TEST_CONFIG = ROOT / ".test" / "config" / "config.yaml"  # the CI-sized config


def deploy(dest, source):
    """`snakedeploy deploy-workflow <source> <dest> --tag <release> --name fgvr`, then the module's
    Snakefile pointed at this clone's workflow/Snakefile."""
    from snakedeploy.deploy import deploy as snakedeploy

    (source / "workflow").mkdir(parents=True)
    for part in ("config", "profiles"):
        shutil.copytree(ROOT / part, source / part)
    shutil.copy(ROOT / "workflow" / "Snakefile", source / "workflow" / "Snakefile")
    snakedeploy(str(source), name="fgvr", tag="v0", branch=None, dest_path=dest)
    snakefile = dest / "workflow" / "Snakefile"
    text = snakefile.read_text()
    # what snakedeploy wrote: the user's config, this workflow as a module, all of its rules
    assert 'configfile: "config/config.yaml"' in text and "module fgvr:" in text
    assert "use rule * from fgvr" in text and "config:\n        config" in text
    assert text.count('"workflow/Snakefile"') == 1
    snakefile.write_text(text.replace('"workflow/Snakefile"', json.dumps(str(ROOT / "workflow" / "Snakefile"))))
    assert (dest / "config" / "config.yaml").read_text() == (ROOT / "config" / "config.yaml").read_text()
    return snakefile


def run(cmd, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the workflow's own path
    result = subprocess.run([sys.executable, "-m", "snakemake", *cmd, "--cores", "2"], cwd=cwd, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


def numbers(workdir) -> dict:
    """Every alignment.json, probe.json and the benchmark table of a run, by relative path."""
    found = sorted(workdir.glob("results/analysis/*/*/alignment.json")) + sorted(
        workdir.glob("results/analysis/*/*/probe.json"))
    out = {p.relative_to(workdir).as_posix(): json.loads(p.read_text()) for p in found}
    out["results/summary/benchmark.csv"] = (workdir / "results/summary/benchmark.csv").read_text()
    return out


@pytest.mark.workflow
def test_module_deployment_runs_in_the_users_folder_with_the_roots_numbers(tmp_path):
    user = tmp_path / "my-analysis"
    deploy(user, tmp_path / "source")
    # the user's config: here the CI-sized one, as a user edits config/config.yaml
    shutil.copy(TEST_CONFIG, user / "config" / "config.yaml")
    log = run([], cwd=user)  # plain `snakemake` in the user's folder, as the catalog's usage runs it
    assert "Nothing to be done" not in log

    root_run = tmp_path / "root-run"
    run(["-s", str(ROOT / "Snakefile"), "-d", str(root_run), "--configfile", str(TEST_CONFIG)], cwd=ROOT)

    deployed, rooted = numbers(user), numbers(root_run)
    assert len(deployed) == 1 + 2 * 2  # two models' alignment and probe, and the benchmark table
    assert deployed == rooted
    # every result and built model in the user's folder, the same files as the root run's
    for part in ("results", "resources"):
        files = {p.relative_to(user / part).as_posix() for p in (user / part).rglob("*") if p.is_file()}
        assert files == {p.relative_to(root_run / part).as_posix() for p in (root_run / part).rglob("*")
                         if p.is_file()}
    assert (user / "resources/models/demo-mllm/config.json").is_file()
    assert not (user / "workflow" / "fgvr").exists()  # the library stayed in the clone

    # rerun: nothing to do; the report works from the user's folder too
    assert "Nothing to be done" in run(["-n"], cwd=user)
    run(["--report", "report.html"], cwd=user)
    assert "probe.png" in (user / "report.html").read_text(errors="replace")


def test_catalog_standardized_usage_files():
    """What the catalog asks of a "standardized usage" workflow (workflow/Snakefile, config/README.md,
    .snakemake-workflow-catalog.yml), and that the flag it names exists and the profiles pass it."""
    import re

    import yaml

    assert (ROOT / "workflow" / "Snakefile").is_file() and (ROOT / "config" / "README.md").is_file()
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["software-stack-deployment"]["conda"] is True and usage["report"] is True
    flags = usage["mandatory-flags"]["flags"].split()
    assert flags == ["--conda-not-block-search-path-envvars"]
    help_text = subprocess.run([sys.executable, "-m", "snakemake", "--help"], capture_output=True, text=True).stdout
    for flag in flags:
        assert flag in help_text
        for profile in ("default", "slurm"):
            settings = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())
            assert settings[flag.removeprefix("--")] is True, profile
    # every rule's software comes from the one conda environment (channels checked in test_docs)
    for smk in (ROOT / "rules").glob("*.smk"):
        envs = re.findall(r"^\s+conda:\s*\n\s+(\S+)", smk.read_text(), re.M)
        rules = re.findall(r"^rule \w+:", smk.read_text(), re.M)
        assert envs == ['"../environment.yml"'] * len(rules), smk.name
