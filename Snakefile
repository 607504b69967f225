# `snakemake` from the repository root (and `make demo`) runs the workflow defined in
# workflow/Snakefile, the main definition that the Snakemake workflow catalog and a user's
# `module` load; nothing is defined here.


include: "workflow/Snakefile"
