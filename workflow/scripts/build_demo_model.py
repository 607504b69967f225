"""Rule build_demo_model: a tiny random-init checkpoint whose tokenizer learns the data set's text."""
from fgvr.datasets.manifest import read_classes, read_descriptions
from fgvr.io import atomic_path, run_script
from fgvr.models.demo import build_demo


def main(smk):
    classes = read_classes(smk.input.classes)
    texts = classes["class_name"].tolist() + classes["description"].tolist()
    texts += list(read_descriptions(smk.input.descriptions).values())
    opts = smk.params.options
    with atomic_path(smk.output[0]) as tmp:
        build_demo(opts["kind"], tmp, texts, opts["image_size"], seed=opts["seed"], family=opts.get("family"))


run_script(main, snakemake)  # noqa: F821
