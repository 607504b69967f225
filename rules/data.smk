# Official data sets come in three ways (config/README.md): a download, an `archive` folder or a
# `root` folder. Only a config entry with neither gets download jobs; fgvr.datasets decides.


rule prepare_dataset:
    input:
        downloads=dataset_downloads,
    output:
        manifest="results/data/{dataset}/manifest.csv",
        classes="results/data/{dataset}/classes.csv",
        descriptions="results/data/{dataset}/descriptions.csv",
    params:
        options=dataset_options,
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/prepare_dataset.py"


# Downloads run on the submit host (compute nodes are often offline) and may be cached between
# workflows (`snakemake --cache download_dataset` with $SNAKEMAKE_OUTPUT_CACHE set). The cache
# key is the file and its checksum, not the URL it came from. Snakemake refuses `benchmark:` on
# a cached rule, so this rule has none; the log holds the transfer's progress and timing.
localrules:
    download_dataset,


rule download_dataset:
    output:
        "resources/downloads/{dataset}/{file}",
    params:
        remote=download_identity,
    log:
        "results/logs/download_dataset/{dataset}/{file}.log",
    wildcard_constraints:
        dataset=downloading_datasets(),
        file="[^/]+",
    cache: "omit-software"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/download_dataset.py"
