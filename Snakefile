# fgvr-workflow: analyse and boost fine-grained visual recognition in multimodal LLMs.
# Rules wire; workflow/scripts plumb arguments; the fgvr library (workflow/fgvr) decides.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

try:
    from fgvr.config import ConfigError, check_config
except ImportError as err:
    raise ImportError("the fgvr package is not installed: run `make demo` or `pip install -e .`") from err


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


rule all:
    input:
        plan.targets(config),
    default_target: True
