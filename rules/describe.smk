# Descriptions, hard negatives and 4-way options: the data that fine-tuning and evaluation read
# (DESIGN.md's contracts). fgvr.plan decides which exist for a config; fgvr.describe and
# fgvr.options make them.


rule describe:
    input:
        unpack(describe_inputs),
        manifest="results/data/{dataset}/manifest.csv",
        classes="results/data/{dataset}/classes.csv",
        annotated="results/data/{dataset}/ground_truth.csv",
    output:
        attributes="results/data/{dataset}/attributes.json",
        descriptions="results/data/{dataset}/descriptions.csv",
        class_descriptions="results/data/{dataset}/class_descriptions.csv",
    log:
        "results/logs/describe/{dataset}.log",
    benchmark:
        "results/benchmarks/describe/{dataset}.tsv"
    conda:
        "../environment.yml"
    resources:
        gpu=lambda w: int(plan.description_mode(config, w.dataset) == "generate"),
        # the generator's own resources where it generates; the defaults for a CPU job
        mem_mb=lambda w: plan.model_resource(config, plan.describe_model(config, w.dataset), "mem_mb"),
        gpu_mem_mb=lambda w: (
            plan.model_resource(config, plan.describe_model(config, w.dataset), "gpu_mem_mb")
            if plan.description_mode(config, w.dataset) == "generate"
            else 0
        ),
        runtime=lambda w: plan.model_resource(config, plan.describe_model(config, w.dataset), "runtime_min"),
    params:
        settings=lambda w: plan.describe_settings(config, w.dataset),
        cache=lambda w: f"resources/cache/describe/{w.dataset}/{plan.generator(config)}.jsonl",
    script:
        "../workflow/scripts/describe.py"


rule negatives:
    input:
        classes="results/data/{dataset}/classes.csv",
        store=lambda w: (
            f"results/embeddings/{w.dataset}/{w.vlm}/categories.h5"
            if config["negatives"]["by"] == "names"
            else f"results/embeddings/{w.dataset}/{w.vlm}/train.h5"
        ),
    output:
        "results/data/{dataset}/negatives/{vlm}.csv",
    log:
        "results/logs/negatives/{dataset}/{vlm}.log",
    benchmark:
        "results/benchmarks/negatives/{dataset}/{vlm}.tsv"
    wildcard_constraints:
        vlm=plan.one_of(plan.vlm_models(config)),
    conda:
        "../environment.yml"
    params:
        by=config["negatives"]["by"],
        k=config["negatives"]["k"],
    script:
        "../workflow/scripts/negatives.py"


rule mine_options:
    input:
        manifest="results/data/{dataset}/manifest.csv",
        objects="results/embeddings/{dataset}/{vlm}/{split}.h5",
        categories="results/embeddings/{dataset}/{vlm}/categories.h5",
    output:
        "results/data/{dataset}/options/{vlm}/{split}.jsonl",
    log:
        "results/logs/mine_options/{dataset}/{vlm}/{split}.log",
    benchmark:
        "results/benchmarks/mine_options/{dataset}/{vlm}/{split}.tsv"
    wildcard_constraints:
        vlm=plan.one_of(plan.vlm_models(config)),
    conda:
        "../environment.yml"
    params:
        seed=config["options"]["seed"],
    script:
        "../workflow/scripts/mine_options.py"


rule foci_options:
    input:
        manifest="results/data/{dataset}/manifest.csv",
        classes="results/data/{dataset}/classes.csv",
        official=foci_file,
    output:
        "results/data/{dataset}/options/foci/test.jsonl",
    log:
        "results/logs/foci_options/{dataset}.log",
    benchmark:
        "results/benchmarks/foci_options/{dataset}.tsv"
    conda:
        "../environment.yml"
    params:
        seed=config["options"]["seed"],
        loader=lambda w: fgvr_datasets.loader_name(w.dataset, config["datasets"][w.dataset]),
    script:
        "../workflow/scripts/foci_options.py"


# FOCI's official option files, from the official repository at a pinned commit, checksummed
# (fgvr.options.FOCI_SHA256); on the submit host, like the data set downloads. Not run when
# `options.foci_dir` names a local copy. The location (options.foci_url) reruns nothing.
localrules:
    download_foci,


rule download_foci:
    output:
        "resources/foci/{file}",
    log:
        "results/logs/download_foci/{file}.log",
    benchmark:
        "results/benchmarks/download_foci/{file}.tsv"
    wildcard_constraints:
        file=plan.one_of(list(fgvr_options.FOCI_SHA256)),
    conda:
        "../environment.yml"
    params:
        checksum=lambda w: fgvr_options.FOCI_SHA256[w.file],
    script:
        "../workflow/scripts/download_foci.py"
