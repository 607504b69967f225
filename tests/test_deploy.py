"""Used as a user of the Snakemake workflow catalog uses it ("standardized usage"): deployed with
snakedeploy into an empty folder, where a Snakefile loads this clone's workflow/Snakefile as a
`module` with the user's config/config.yaml, then run there offline (tests/test_workflow.py runs
the demo so and compares its numbers with the root's demo run; here: the deployment itself, the
CI-sized config planned through the module, and the catalog's files).

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


def test_the_module_plans_the_ci_config_in_the_users_folder(tmp_path):
    """The deployment with .test/'s CI-sized config as the user's: the module plans every rule of
    it there, offline, and the plan is the root's."""
    user = tmp_path / "my-analysis"
    deploy(user, tmp_path / "source")
    shutil.copy(TEST_CONFIG, user / "config" / "config.yaml")
    deployed = run(["-n", "--quiet", "rules"], cwd=user)
    rooted = run(["-n", "--quiet", "rules", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "root-run"),
                  "--configfile", str(TEST_CONFIG)], cwd=ROOT)
    table = deployed.split("Job stats:")[1]
    assert "evaluate" in table and "linear_probe" in table and "alignment" in table
    assert table == rooted.split("Job stats:")[1]


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
