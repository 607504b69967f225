rule build_demo_model:
    input:
        classes=lambda w: f"results/data/{model_options(w)['vocab_from']}/classes.csv",
        descriptions=lambda w: f"results/data/{model_options(w)['vocab_from']}/ground_truth.csv",
    output:
        directory("resources/models/{model}"),
    log:
        "results/logs/build_demo_model/{model}.log",
    benchmark:
        "results/benchmarks/build_demo_model/{model}.tsv"
    wildcard_constraints:
        model=plan.one_of(plan.demo_models(config)),
    conda:
        "../environment.yml"
    params:
        options=lambda w: plan.build_options(config, w.model),
    script:
        "../workflow/scripts/build_demo_model.py"


# Downloads run on the submit host (compute nodes are often offline).
localrules:
    fetch_model,


rule fetch_model:
    output:
        directory("resources/models/{model}"),
    log:
        "results/logs/fetch_model/{model}.log",
    benchmark:
        "results/benchmarks/fetch_model/{model}.tsv"
    wildcard_constraints:
        model=plan.one_of(plan.hub_models(config)),
    conda:
        "../environment.yml"
    params:
        hf_id=lambda w: config["models"][w.model]["hf_id"],
        revision=lambda w: config["models"][w.model]["revision"],
    script:
        "../workflow/scripts/fetch_model.py"
