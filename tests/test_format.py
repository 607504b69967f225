"""snakefmt, as the Snakemake workflow catalog checks it: the Snakefiles and every rule file are
formatted (settings: pyproject.toml's [tool.snakefmt]). To fix: `snakefmt Snakefile workflow/Snakefile rules/`."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

FILES = [ROOT / "Snakefile", ROOT / "workflow" / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]


def test_snakefiles_and_rule_files_are_formatted():
    assert len(FILES) > 2
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *map(str, FILES)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"All {len(FILES)} file(s) would be left unchanged" in result.stdout + result.stderr
