# Official data sets come in three ways (config/README.md): a download, an `archive` folder or a
# `root` folder. Downloads and archives are unpacked by a rule of their own; with `root`, the
# official metadata files are inputs, so a changed label file reruns the preparation.


rule prepare_dataset:
    input:
        data=dataset_folder,
        metadata=dataset_metadata,
    output:
        manifest="results/data/{dataset}/manifest.csv",
        classes="results/data/{dataset}/classes.csv",
        ground_truth="results/data/{dataset}/ground_truth.csv",
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../environment.yml"
    params:
        options=dataset_options,
    script:
        "../workflow/scripts/prepare_dataset.py"


# Safe extraction (nothing lands outside the folder) into a sibling folder renamed into place
# when complete: a killed job leaves no output folder.
rule unpack_dataset:
    input:
        dataset_archives,
    output:
        directory("resources/datasets/{dataset}"),
    log:
        "results/logs/unpack_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/unpack_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=unpacking_datasets(),
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/unpack_dataset.py"


# Downloads run on the submit host (compute nodes are often offline) and may be cached between
# workflows (`snakemake --cache download_dataset` with $SNAKEMAKE_OUTPUT_CACHE set). The cache
# key is the file and its checksum, not the URL it came from. Snakemake refuses `benchmark:` on
# a cached rule, so this rule has none; the log holds the transfer's progress and timing.
localrules:
    download_dataset,


rule download_dataset:
    output:
        "resources/downloads/{dataset}/{file}",
    log:
        "results/logs/download_dataset/{dataset}/{file}.log",
    wildcard_constraints:
        dataset=downloading_datasets(),
        file="[^/]+",
    cache: "omit-software"
    conda:
        "../environment.yml"
    params:
        remote=download_identity,
    script:
        "../workflow/scripts/download_dataset.py"
