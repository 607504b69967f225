rule build_demo_model:
    input:
        classes=lambda w: f"results/data/{model_options(w)['vocab_from']}/classes.csv",
        descriptions=lambda w: f"results/data/{model_options(w)['vocab_from']}/descriptions.csv",
    output:
        directory("resources/models/{model}"),
    params:
        options=model_options,
    log:
        "results/logs/build_demo_model/{model}.log",
    benchmark:
        "results/benchmarks/build_demo_model/{model}.tsv"
    wildcard_constraints:
        model="|".join(plan.demo_models(config)) or "^$",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/build_demo_model.py"
