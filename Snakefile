# `snakemake` from the repository root (and `make demo`) runs the workflow defined in
# workflow/Snakefile, the main definition that the Snakemake workflow catalog and a user's
# `module` load; nothing is defined here. Included as Snakemake's module system includes a
# module's Snakefile: with its default target (`rule all`), which an `include:` statement
# would drop (an included file's `default_target` does not outlive the include).
workflow.include("workflow/Snakefile", overwrite_default_target=True)
