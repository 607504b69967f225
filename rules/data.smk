rule prepare_dataset:
    output:
        manifest="results/data/{dataset}/manifest.csv",
        classes="results/data/{dataset}/classes.csv",
        descriptions="results/data/{dataset}/descriptions.csv",
    params:
        options=lambda w: config["datasets"][w.dataset],
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/prepare_dataset.py"
