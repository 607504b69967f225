"""What a new user reads and installs matches the project: environment.yml and pyproject.toml list
the same packages and bounds, with the channels that carry them; the README's layout names every
top-level folder and rule file; the docs name only rules and config keys that exist, and no path
of a development machine."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "config" / "README.md", ROOT / "benchmarks" / "README.md"]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ


def requirement(text: str) -> tuple[str, str]:
    """('name', 'version bounds') of a requirement line ("peft>=0.13", "snakemake>=9,<10")."""
    found = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*?)\s*(?:#.*)?$", text)
    return found[1].lower(), found[2].replace(" ", "")


def test_environment_has_pyprojects_packages_from_the_right_channels():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    wanted = {CONDA_NAMES.get(name, name): bounds for name, bounds in wanted}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = dict(requirement(d) for d in env["dependencies"] if isinstance(d, str))
    python = listed.pop("python")
    assert listed == wanted  # the same names, the same bounds
    assert python == ">=" + project["requires-python"].removeprefix(">=")
    assert env["channels"] == ["conda-forge", "bioconda"]  # Snakemake and its plugin: bioconda
    assert not any(isinstance(d, dict) for d in env["dependencies"])  # nothing left to pip


def test_readme_layout_names_every_folder_and_rule_file():
    text = (ROOT / "README.md").read_text()
    layout = text.split("## Layout", 1)[1].split("```")[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    folders = sorted({path.split("/")[0] for path in tracked if "/" in path})
    assert folders and all(re.search(rf"^{re.escape(f)}/", layout, re.M) for f in folders), folders
    rules_line = next(line for line in layout.splitlines() if line.startswith("rules/"))
    for smk in (ROOT / "rules").glob("*.smk"):
        assert re.search(rf"\b{smk.stem}\b", rules_line), smk.name


def rule_names() -> set[str]:
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--list-rules"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.strip() for line in result.stdout.splitlines() if re.fullmatch(r"\s*[a-z_0-9]+\s*", line)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_existing_rules_and_config_keys(doc):
    text = doc.read_text()
    for rule in re.findall(r"rules/([a-z_]+)\.smk", text):
        assert (ROOT / "rules" / f"{rule}.smk").is_file(), rule
    named = set(re.findall(r"rule `?([a-z]+_[a-z0-9_]+)`?", text)) | set(re.findall(r"`([a-z]+_[a-z0-9_]+)` rule", text))
    assert named <= rule_names(), sorted(named - rule_names())
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    tops = "|".join(schema["properties"])
    for key in re.findall(rf"`((?:{tops})\.[A-Za-z0-9_.{{}}-]+)`", text):
        assert schema_has(schema, key.split(".")), key


def schema_has(schema: dict, parts: list[str]) -> bool:
    """Whether the dotted key exists in the JSON schema (any name for a map's entries)."""
    node = schema
    for part in parts:
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].split("/")[-1]]
        properties = node.get("properties", {})
        if part in properties:
            node = properties[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif part.startswith("{") or node.get("additionalProperties") is not False and not properties:
            node = {}
        else:
            return False
    return True


def test_schema_lookup_refuses_a_missing_key():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    assert schema_has(schema, ["evaluation", "option_names"]) and schema_has(schema, ["models", "{name}", "finetune"])
    assert not schema_has(schema, ["evaluation", "batchsize"]) and not schema_has(schema, ["options", "foci_folder"])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_show_no_development_machine_paths(doc):
    # the project's own fixed places are fine (the test cluster's state folder, Slurm's config)
    allowed = {"/tmp/fgvr-slurm", "/etc/slurm"}
    found = set(re.findall(r"(?<![\w.<>~-])/(?:work|root|home|tmp|Users|mnt|etc)/[\w.-]+", doc.read_text()))
    assert found <= allowed, sorted(found - allowed)
