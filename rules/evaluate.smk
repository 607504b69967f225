# Benchmark evaluation (DESIGN.md contracts; fgvr.evaluate): one job per data set, model and
# protocol (and other option order), then one table of them all beside the paper's numbers, the
# per-class tables and the paired comparisons (fgvr.stats). fgvr.plan decides which exist.


rule evaluate:
    input:
        unpack(lambda w: plan.evaluation_inputs(config, w.dataset, w.model, w.protocol)),
    output:
        jsonl="results/eval/{dataset}/{model}/{protocol}.jsonl",
        json="results/eval/{dataset}/{model}/{protocol}.json",
    log:
        "results/logs/evaluate/{dataset}/{model}/{protocol}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}/{protocol}.tsv"
    wildcard_constraints:
        protocol=r"(blind-)?(mc4-[A-Za-z0-9_.-]+|open)|zeroshot",
    conda:
        "../environment.yml"
    threads: max(1, config["extraction"]["num_workers"])
    resources:
        # zeroshot reads cached embeddings: no GPU
        gpu=lambda w: int(plan.protocol_kind(w.protocol) == "mllm"),
        mem_mb=lambda w: plan.model_resource(config, w.model, "mem_mb"),
        gpu_mem_mb=lambda w: (
            plan.model_resource(config, w.model, "gpu_mem_mb") if plan.protocol_kind(w.protocol) == "mllm" else 0
        ),
        runtime=lambda w: plan.model_resource(config, w.model, "runtime_min"),
    params:
        settings=lambda w: plan.evaluation_settings(config, w.dataset, w.model, w.protocol),
    script:
        "../workflow/scripts/evaluate.py"


# The same (blind-)mc4 questions in another option order (evaluation.option_seeds): one job per seed.
use rule evaluate as evaluate_seed with:
    output:
        jsonl="results/eval/{dataset}/{model}/seed{seed}/{protocol}.jsonl",
        json="results/eval/{dataset}/{model}/seed{seed}/{protocol}.json",
    log:
        "results/logs/evaluate/{dataset}/{model}/seed{seed}/{protocol}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}/seed{seed}/{protocol}.tsv"
    wildcard_constraints:
        seed="[0-9]+",
        protocol=r"(blind-)?mc4-[A-Za-z0-9_.-]+",
    params:
        settings=lambda w: plan.evaluation_settings(config, w.dataset, w.model, w.protocol, int(w.seed)),


rule per_class:
    input:
        plan.per_class_inputs(config),
    output:
        csv=report(f"{plan.PER_CLASS}.csv", caption="../workflow/report/per_class.rst", category="Benchmark"),
        confusions=report(f"{plan.CONFUSIONS}.csv", caption="../workflow/report/confusions.rst", category="Benchmark"),
    log:
        "results/logs/per_class.log",
    benchmark:
        "results/benchmarks/per_class.tsv"
    conda:
        "../environment.yml"
    params:
        jobs=plan.per_class_jobs(config),
    script:
        "../workflow/scripts/per_class.py"


rule compare:
    input:
        plan.compare_inputs(config),
    output:
        csv=report(f"{plan.COMPARE}.csv", caption="../workflow/report/compare.rst", category="Benchmark"),
        md=f"{plan.COMPARE}.md",
    log:
        "results/logs/compare.log",
    benchmark:
        "results/benchmarks/compare.tsv"
    conda:
        "../environment.yml"
    params:
        jobs=plan.compare_jobs(config),
    script:
        "../workflow/scripts/compare.py"


rule benchmark_table:
    input:
        results=plan.evaluation_results(config),
        seeds=plan.seed_results(config),
        # the base / twin comparison, where a fine-tuned model and its base are both studied
        twins=[f"{plan.TWINS}.csv"] if plan.twin_jobs(config) else [],
    output:
        csv=report("results/summary/benchmark.csv", caption="../workflow/report/benchmark.rst", category="Benchmark"),
        md="results/summary/benchmark.md",
        png=report("results/summary/benchmark.png", caption="../workflow/report/benchmark.rst", category="Benchmark"),
        letters=report(plan.LETTER_BIAS, caption="../workflow/report/letter_bias.rst", category="Benchmark"),
        seeds=report(plan.OPTION_ORDERS, caption="../workflow/report/option_seeds.rst", category="Benchmark"),
    log:
        "results/logs/benchmark_table.log",
    benchmark:
        "results/benchmarks/benchmark_table.tsv"
    conda:
        "../environment.yml"
    params:
        option_seed=config["options"]["seed"],
    script:
        "../workflow/scripts/benchmark_table.py"


rule twins:
    input:
        plan.twin_inputs(config),
    output:
        csv=report(f"{plan.TWINS}.csv", caption="../workflow/report/twins.rst", category="Benchmark"),
        md=f"{plan.TWINS}.md",
        png=report(f"{plan.TWINS}.png", caption="../workflow/report/twins.rst", category="Benchmark"),
        classes=report(f"{plan.TWIN_CLASSES}.csv", caption="../workflow/report/twins_classes.rst", category="Benchmark"),
        classes_png=report(
            f"{plan.TWIN_CLASSES}.png", caption="../workflow/report/twins_classes.rst", category="Benchmark"
        ),
    log:
        "results/logs/twins.log",
    benchmark:
        "results/benchmarks/twins.tsv"
    conda:
        "../environment.yml"
    params:
        jobs=plan.twin_jobs(config),
    script:
        "../workflow/scripts/twins.py"
