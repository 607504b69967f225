EXTRACT_RESOURCES = dict(
    gpu=1,
    mem_mb=lambda w: plan.model_resource(config, w.model, "mem_mb"),
    gpu_mem_mb=lambda w: plan.model_resource(config, w.model, "gpu_mem_mb"),
    runtime=lambda w: plan.model_resource(config, w.model, "runtime_min"),
)


rule extract_objects:
    input:
        manifest="results/data/{dataset}/manifest.csv",
        descriptions="results/data/{dataset}/descriptions.csv",
        model=model_dir,
    output:
        "results/embeddings/{dataset}/{model}/{split}.h5",
    log:
        "results/logs/extract_objects/{dataset}/{model}/{split}.log",
    benchmark:
        "results/benchmarks/extract_objects/{dataset}/{model}/{split}.tsv"
    conda:
        "../environment.yml"
    threads: max(1, config["extraction"]["num_workers"])
    resources:
        **EXTRACT_RESOURCES,
    params:
        model=model_options,
    script:
        "../workflow/scripts/extract_objects.py"


rule extract_categories:
    input:
        classes="results/data/{dataset}/class_descriptions.csv",
        model=model_dir,
    output:
        "results/embeddings/{dataset}/{model}/categories.h5",
    log:
        "results/logs/extract_categories/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/extract_categories/{dataset}/{model}.tsv"
    conda:
        "../environment.yml"
    resources:
        **EXTRACT_RESOURCES,
    params:
        model=model_options,
    script:
        "../workflow/scripts/extract_categories.py"
