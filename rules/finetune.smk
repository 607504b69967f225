# Alignment fine-tuning (the paper's section 3): stage 1 (attribute-augmented contrastive
# alignment) then stage 2 (classification-centred instruction tuning), each ending in a merged
# checkpoint; stage 2's is resources/models/{model}, read by extraction and analysis like any
# other. fgvr.train does the work; a stage killed midway resumes from its last checkpoint.


rule finetune_stage1:
    input:
        unpack(lambda w: finetune_inputs(w, 1)),
    output:
        model=directory("results/train/{model}/stage1/model"),
        log="results/train/{model}/stage1/log.csv",
        plot=report(
            "results/train/{model}/stage1/loss.png",
            caption="../workflow/report/finetune.rst",
            category="Fine-tuning",
            subcategory="{model}",
        ),
    log:
        "results/logs/finetune_stage1/{model}.log",
    benchmark:
        "results/benchmarks/finetune_stage1/{model}.tsv"
    wildcard_constraints:
        model=plan.one_of(plan.finetuned_models(config)),
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=finetune_resources,
        mem_mb=lambda w: config["models"][w.model]["finetune"]["mem_mb"],
        gpu_mem_mb=lambda w: plan.model_resource(config, w.model, "gpu_mem_mb"),
        runtime=lambda w: (
            config["models"][w.model]["finetune"].get("runtime_min")
            or plan.model_resource(config, w.model, "runtime_min")
        ),
    params:
        spec=lambda w: plan.finetune_spec(config, w.model, 1),
    script:
        "../workflow/scripts/finetune.py"


rule finetune_stage2:
    input:
        unpack(lambda w: finetune_inputs(w, 2)),
    output:
        model=directory("resources/models/{model}"),
        log="results/train/{model}/stage2/log.csv",
        plot=report(
            "results/train/{model}/stage2/loss.png",
            caption="../workflow/report/finetune.rst",
            category="Fine-tuning",
            subcategory="{model}",
        ),
    log:
        "results/logs/finetune_stage2/{model}.log",
    benchmark:
        "results/benchmarks/finetune_stage2/{model}.tsv"
    wildcard_constraints:
        model=plan.one_of(plan.finetuned_models(config)),
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=finetune_resources,
        mem_mb=lambda w: config["models"][w.model]["finetune"]["mem_mb"],
        gpu_mem_mb=lambda w: plan.model_resource(config, w.model, "gpu_mem_mb"),
        runtime=lambda w: (
            config["models"][w.model]["finetune"].get("runtime_min")
            or plan.model_resource(config, w.model, "runtime_min")
        ),
    params:
        spec=lambda w: plan.finetune_spec(config, w.model, 2),
    script:
        "../workflow/scripts/finetune.py"
