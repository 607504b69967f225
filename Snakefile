# fgvr-workflow: analyse and boost fine-grained visual recognition in multimodal LLMs.
# Rules wire; workflow/scripts plumb arguments; the fgvr library (workflow/fgvr) decides.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The fgvr library lives in workflow/fgvr: importable here and in every job's script, whether or
# not it was pip-installed (cluster jobs in a conda env from environment.yml need no install).
LIB = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, LIB)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (LIB, os.environ.get("PYTHONPATH")) if p))

from fgvr.config import ConfigError, check_config


# The demo config unless the command line names config files (`--configfile X` then replaces
# it whole instead of being merged into the demo's data sets and models); `--config k=v` still
# overrides single keys of whichever file is used.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


try:
    check_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
except ConfigError as err:
    raise WorkflowError(f"invalid config: {err}") from None


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/extract.smk"
include: "rules/analysis.smk"
include: "rules/describe.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"


rule all:
    input:
        plan.targets(config),
    default_target: True
