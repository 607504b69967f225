rule linear_probe:
    input:
        train="results/embeddings/{dataset}/{model}/train.h5",
        test="results/embeddings/{dataset}/{model}/test.h5",
        # the official val split, where the data set has one: C is chosen on it (not for a
        # fine-tuned twin that trained on it, nor its base: both hold out part of train instead)
        val=lambda w: (
            [f"results/embeddings/{w.dataset}/{w.model}/val.h5"] if plan.probe_val(config, w.dataset, w.model) else []
        ),
    output:
        "results/analysis/{dataset}/{model}/probe.json",
    log:
        "results/logs/linear_probe/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/linear_probe/{dataset}/{model}.tsv"
    conda:
        "../environment.yml"
    threads: 4
    params:
        probe=config["analysis"]["probe"],
    script:
        "../workflow/scripts/linear_probe.py"


rule alignment:
    input:
        objects="results/embeddings/{dataset}/{model}/test.h5",
        categories="results/embeddings/{dataset}/{model}/categories.h5",
    output:
        "results/analysis/{dataset}/{model}/alignment.json",
    log:
        "results/logs/alignment/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/alignment/{dataset}/{model}.tsv"
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/alignment.py"


rule summary:
    input:
        probes=expand("results/analysis/{{dataset}}/{model}/probe.json", model=plan.analysed_models(config)),
        alignments=expand("results/analysis/{{dataset}}/{model}/alignment.json", model=plan.analysed_models(config)),
    output:
        csv=report(
            "results/analysis/{dataset}/summary.csv",
            caption="../workflow/report/summary.rst",
            category="Summary",
            subcategory="{dataset}",
        ),
        probe=report(
            "results/plots/{dataset}/probe.png",
            caption="../workflow/report/probe.rst",
            category="Linear probes",
            subcategory="{dataset}",
        ),
        alignment=report(
            "results/plots/{dataset}/alignment.png",
            caption="../workflow/report/alignment.rst",
            category="Alignment",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/summary/{dataset}.log",
    benchmark:
        "results/benchmarks/summary/{dataset}.tsv"
    conda:
        "../environment.yml"
    params:
        models=plan.analysed_models(config),
    script:
        "../workflow/scripts/summary.py"


rule tsne:
    input:
        objects=[
            f"results/embeddings/{{dataset}}/{m}/{config['analysis']['tsne']['split']}.h5"
            for m in plan.analysed_models(config)
        ],
        categories=[f"results/embeddings/{{dataset}}/{m}/categories.h5" for m in plan.analysed_models(config)],
    output:
        png=report(
            "results/plots/{dataset}/tsne_{pooling}.png",
            caption="../workflow/report/tsne.rst",
            category="t-SNE",
            subcategory="{dataset}",
        ),
        csv="results/plots/{dataset}/tsne_{pooling}.csv",
    log:
        "results/logs/tsne/{dataset}/{pooling}.log",
    benchmark:
        "results/benchmarks/tsne/{dataset}/{pooling}.tsv"
    conda:
        "../environment.yml"
    params:
        models=plan.analysed(config),
        tsne=config["analysis"]["tsne"],
    script:
        "../workflow/scripts/tsne.py"
