"""The demo end to end: snakemake on config/config.yaml in a temporary working directory."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from fgvr.prompts import PROMPT_FORMAT

pytestmark = pytest.mark.workflow
CONFIG = ROOT / "config" / "config.yaml"


def snakemake(workdir, *args, config=CONFIG):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def planned_jobs(result) -> dict[str, int]:
    """Rule -> count from a dry run's 'Job stats' table."""
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="module")
def cfg():
    return yaml.safe_load(CONFIG.read_text())


def test_embeddings_follow_the_contract(demo, cfg):
    manifest = pd.read_csv(demo / "results/data/synthetic/manifest.csv")
    classes = pd.read_csv(demo / "results/data/synthetic/classes.csv")
    assert len(classes) == cfg["datasets"]["synthetic"]["classes"]
    keys = {"demo-mllm": ["connector.mean", "llm.last", "llm.mean", "vision.mean"], "demo-vlm": ["embed", "vision.mean"]}
    for model, expected in keys.items():
        hidden = json.loads((demo / f"resources/models/{model}/config.json").read_text())
        for split in ("train", "test"):
            rows = manifest[manifest["split"] == split]
            with h5py.File(demo / f"results/embeddings/synthetic/{model}/{split}.h5") as f:
                assert sorted(f["objects"]) == expected
                assert f["labels"][:].tolist() == rows["label"].tolist()
                assert f["image_ids"].asstr()[:].tolist() == rows["image_id"].astype(str).tolist()
                for key in expected:
                    values = f["objects"][key][:]
                    assert values.shape[0] == len(rows) and np.isfinite(values).all()
                    assert values.std(0).mean() > 0  # not constant
                size = hidden["text_config"]["hidden_size"] if model == "demo-mllm" else hidden["vision_config"]["hidden_size"]
                assert f["objects"]["llm.last" if model == "demo-mllm" else "embed"].shape[1] == size
                assert f.attrs["demo"] and f.attrs["model"] == model
        with h5py.File(demo / f"results/embeddings/synthetic/{model}/categories.h5") as f:
            assert f["class_names"].asstr()[:].tolist() == classes["class_name"].tolist()
            assert f["names"][list(f["names"])[0]].shape[0] == len(classes)


def test_probes_beat_chance(demo):
    for model in ("demo-mllm", "demo-vlm"):
        probe = json.loads((demo / f"results/analysis/synthetic/{model}/probe.json").read_text())
        objects = probe["results"]["objects"]
        chance = next(iter(objects.values()))["chance"]
        assert chance == pytest.approx(1 / 12)
        assert max(r["accuracy"] for r in objects.values()) > 2 * chance
        # descriptions state the attributes, so even a random text tower separates them
        assert min(r["accuracy"] for r in probe["results"]["descriptions"].values()) > 0.5


def test_alignment_and_figures(demo, cfg):
    alignment = json.loads((demo / "results/analysis/synthetic/demo-mllm/alignment.json").read_text())
    assert set(alignment["results"]["names"]) == {"llm.last", "llm.mean"}
    names = alignment["results"]["names"]["llm.last"]
    assert alignment["n_objects"] == 12 * 10 and alignment["n_categories"] == 12
    assert names["chance"] == pytest.approx(1 / 12)
    assert names["gap"] == pytest.approx(names["cos_matched"] - names["cos_unmatched"], abs=1e-6)
    for pooling in cfg["analysis"]["poolings"]:
        points = pd.read_csv(demo / f"results/plots/synthetic/tsne_{pooling}.csv")
        k = cfg["analysis"]["tsne"]["classes"]
        models = len(cfg["analysis"]["vlm"]) + len(cfg["analysis"]["mllm"])  # a row of three panels each
        assert list(dict.fromkeys(points["panel"])) == list("abcdefghi")[:3 * models]
        chosen = points[points["chosen"]]
        assert points["model"].nunique() == models and chosen["class_name"].nunique() == k
        # names: all 12 in each row's second panel (k of them chosen), the k chosen ones in its third
        assert (chosen["what"] == "name").sum() == 2 * k * models
        assert (points["what"] == "name").sum() == models * (12 + k)
        assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    summary = pd.read_csv(demo / "results/analysis/synthetic/summary.csv")
    assert set(summary["model"]) == {"demo-mllm", "demo-finetuned", "demo-vlm"} and summary["demo"].all()


def test_descriptions_negatives_and_options(demo, cfg):
    data = demo / "results/data/synthetic"
    manifest = pd.read_csv(data / "manifest.csv", dtype={"image_id": str})
    described = pd.read_csv(data / "descriptions.csv", dtype=str)
    truth = pd.read_csv(data / "ground_truth.csv", dtype=str)
    assert described["image_id"].tolist() == manifest["image_id"].tolist()
    assert dict(zip(described["image_id"], described["description"])) == dict(zip(truth["image_id"], truth["description"]))
    per_class = pd.read_csv(data / "class_descriptions.csv")
    assert len(per_class) == 12 and per_class["description"].str.startswith("It has").all()
    assert json.loads((data / "attributes.json").read_text())["source"] == "ground_truth"
    negatives = pd.read_csv(data / "negatives/demo-vlm.csv")
    assert len(negatives) == 12 * 3 and (negatives["label"] != negatives["negative_label"]).all()
    assert (negatives.groupby("label")["similarity"].diff().dropna() <= 0).all()  # rank 1 most similar
    # options: the true class and the 3 wrong classes the VLM ranks highest for the image, recomputed here
    with h5py.File(demo / "results/embeddings/synthetic/demo-vlm/test.h5") as f:
        images, ids = f["objects/embed"][:], [i.decode() if isinstance(i, bytes) else i for i in f["image_ids"][:]]
    with h5py.File(demo / "results/embeddings/synthetic/demo-vlm/categories.h5") as f:
        prompts = f["prompts/embed"][:]
    scores = (images / np.linalg.norm(images, axis=1, keepdims=True)) @ (prompts / np.linalg.norm(prompts, axis=1,
                                                                                                   keepdims=True)).T
    lines = [json.loads(line) for line in (data / "options/demo-vlm/test.jsonl").read_text().splitlines()]
    assert [row["image_id"] for row in lines] == ids
    for row, score in zip(lines, scores):
        assert row["options"][row["answer"]] == row["label"] and len(set(row["options"])) == 4
        score[row["label"]] = -np.inf
        assert set(row["options"]) - {row["label"]} == set(np.argsort(-score)[:3].tolist())
    assert len({row["answer"] for row in lines}) == 4  # the true class is not always in one place
    train = (data / "options/demo-vlm/train.jsonl").read_text().splitlines()
    assert len(train) == (manifest["split"] == "train").sum()


def test_generated_descriptions_cover_every_image(demo, cfg):
    data = demo / "results/data/synthetic-generated"
    manifest = pd.read_csv(data / "manifest.csv", dtype={"image_id": str})
    described = pd.read_csv(data / "descriptions.csv", dtype=str, keep_default_na=False)
    assert described["image_id"].tolist() == manifest["image_id"].tolist() and described["description"].str.len().min() > 0
    info = json.loads((data / "attributes.json").read_text())
    assert info["source"] == "generate" and info["generator"] == "demo-mllm"
    assert info["attributes"] == cfg["descriptions"]["attribute_list"]
    cache = demo / "resources/cache/describe/synthetic-generated/demo-mllm.jsonl"
    vqa = [json.loads(line) for line in cache.read_text().splitlines()]
    assert sum(e["attribute"] in info["attributes"] for e in vqa) == len(manifest) * len(info["attributes"])
    assert not (demo / "results/embeddings/synthetic-generated").exists()  # not in analysis.datasets


def test_alignment_json_is_recomputed_from_the_hdf5_files(demo):
    """Every model's alignment.json, recomputed here from its test.h5 and categories.h5 with plain
    numpy: nearest name by cosine, the mean cosine to the own name and to the other names."""
    for model in ("demo-mllm", "demo-finetuned", "demo-vlm"):
        emb = demo / "results/embeddings/synthetic" / model
        saved = json.loads((demo / f"results/analysis/synthetic/{model}/alignment.json").read_text())["results"]
        with h5py.File(emb / "test.h5") as objects, h5py.File(emb / "categories.h5") as categories:
            labels, name_labels = objects["labels"][:], categories["labels"][:]
            for key, result in saved["names"].items():
                x, t = objects["objects"][key][:].astype(float), categories["names"][key][:].astype(float)
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                t /= np.linalg.norm(t, axis=1, keepdims=True)
                cos = x @ t.T
                own = np.array([list(name_labels).index(y) for y in labels])
                others = ~np.eye(len(t), dtype=bool)[own]
                matched = cos[np.arange(len(x)), own]
                unmatched = np.array([row[mask].mean() for row, mask in zip(cos, others)])
                assert result["accuracy"] == pytest.approx(np.mean(cos.argmax(1) == own), abs=1e-9), (model, key)
                assert result["cos_matched"] == pytest.approx(matched.mean(), abs=1e-5)
                assert result["cos_unmatched"] == pytest.approx(unmatched.mean(), abs=1e-5)
                assert result["gap"] == pytest.approx((matched - unmatched).mean(), abs=1e-5)
                assert result["centroid_distance"] == pytest.approx(np.linalg.norm(x.mean(0) - t.mean(0)), abs=1e-5)


def test_fine_tuning_aligns_objects_with_their_names(demo):
    """demo-finetuned (demo-mllm after both stages) puts test objects nearer their own class
    name than the untuned model does: a cosine gap (own name minus the others) where the untuned
    model has none, and more objects whose nearest name is their own, well above chance."""
    def names(model):
        alignment = json.loads((demo / f"results/analysis/synthetic/{model}/alignment.json").read_text())
        return alignment["results"]["names"]["llm.last"]

    base, tuned = names("demo-mllm"), names("demo-finetuned")
    assert abs(base["gap"]) < 0.02 and tuned["gap"] > 0.15
    assert tuned["accuracy"] > base["accuracy"] + 0.1 and tuned["accuracy"] > 2 * base["chance"]
    first = pd.read_csv(demo / "results/train/demo-finetuned/stage1/log.csv")
    assert {"loss_gen", "loss_oa", "loss_ac", "loss_cc", "temperature"} <= set(first.columns)
    assert first["loss"].tail(5).mean() < first["loss"].head(5).mean()
    second = pd.read_csv(demo / "results/train/demo-finetuned/stage2/log.csv")
    assert list(second.columns) == ["step", "loss", "lr"] and len(second) > 0
    config = json.loads((demo / "resources/models/demo-finetuned/config.json").read_text())
    assert config["architectures"] == ["Idefics2ForConditionalGeneration"] and config["fgvr_demo"]
    summary = pd.read_csv(demo / "results/analysis/synthetic/summary.csv")
    assert {"demo-mllm", "demo-finetuned"} <= set(summary["model"])


def test_fine_tuning_lifts_the_benchmark(demo):
    """The boost on the benchmark: demo-finetuned chooses the right one of the 4 mined options
    (the demo's cloze scoring) far more often than demo-mllm and than chance, and names some
    birds exactly, which demo-mllm never does."""
    def accuracy(model, protocol):
        return json.loads((demo / f"results/eval/synthetic/{model}/{protocol}.json").read_text())["accuracy"]

    base, tuned = accuracy("demo-mllm", "mc4-demo-vlm"), accuracy("demo-finetuned", "mc4-demo-vlm")
    assert tuned > base + 0.15 and tuned > 0.25 + 0.15
    assert accuracy("demo-finetuned", "open") > accuracy("demo-mllm", "open") + 0.05


def test_base_and_twin_side_by_side(demo):
    """results/summary/twins.csv puts demo-finetuned beside demo-mllm: each measure read back from
    the two models' own result files, the difference twin - base; benchmark.md ends with the same
    rows; one figure."""
    from PIL import Image

    twins = pd.read_csv(demo / "results/summary/twins.csv")
    assert set(twins["base"]) == {"demo-mllm"} and set(twins["twin"]) == {"demo-finetuned"}

    def own(model, kind):
        return json.loads((demo / f"results/{kind}/synthetic/{model}").read_text())

    expected = {}
    for role, model in (("base", "demo-mllm"), ("twin", "demo-finetuned")):
        names = own(f"{model}/alignment.json", "analysis")["results"]["names"]["llm.last"]
        probe = own(f"{model}/probe.json", "analysis")["results"]["objects"]["llm.last"]
        mc4, opened = own(f"{model}/mc4-demo-vlm.json", "eval"), own(f"{model}/open.json", "eval")
        expected[role] = {"alignment accuracy": 100 * names["accuracy"], "cosine gap": names["gap"],
                          "probe accuracy": 100 * probe["accuracy"],
                          "mc4-demo-vlm 4-way accuracy (names)": 100 * mc4["accuracy"],
                          "open exact match": 100 * opened["accuracy"]}
    rows = twins.set_index("measure")
    for measure in expected["base"]:
        base, twin = expected["base"][measure], expected["twin"][measure]
        assert rows.loc[measure, "base_value"] == pytest.approx(base, abs=0.01), measure
        assert rows.loc[measure, "twin_value"] == pytest.approx(twin, abs=0.01), measure
        assert rows.loc[measure, "difference"] == pytest.approx(twin - base, abs=0.02), measure
    assert rows.loc["alignment accuracy", "difference"] > 10 and rows.loc["cosine gap", "difference"] > 0.1
    assert rows["demo"].all() and "C chosen on stratified" in rows.loc["probe accuracy", "note"]
    markdown = (demo / "results/summary/benchmark.md").read_text()
    section = markdown.split("## Base and fine-tuned twin")[1]
    assert section.count("| synthetic | demo-mllm | demo-finetuned |") == len(twins)
    with Image.open(demo / "results/summary/twins.png") as figure:
        assert figure.width > 600 and figure.height > 300


def test_blind_twin_shows_what_the_images_add(demo, cfg, tmp_path):
    """blind-mc4-demo-vlm added to the protocols (in a copy of the demo): only its evaluations, the
    base / twin comparison (both models ran it), the per-class tables and the table run. demo-finetuned's 4-way score falls when its images are grey: the boost is read
    off the images, not off the option names alone."""
    import shutil

    work = tmp_path / "demo"
    shutil.copytree(demo, work, symlinks=True)
    changed = edited(cfg, tmp_path, lambda c: c["evaluation"]["protocols"].append("blind-mc4-demo-vlm"))
    planned = planned_jobs(snakemake(work, "-n", config=changed))
    assert planned == {"evaluate": 2, "twins": 1, "per_class": 1, "benchmark_table": 1, "all": 1}
    result = snakemake(work, config=changed)
    assert result.returncode == 0, result.stderr[-3000:]

    def info(model, protocol):
        return json.loads((work / f"results/eval/synthetic/{model}/{protocol}.json").read_text())

    sighted, blind = info("demo-finetuned", "mc4-demo-vlm"), info("demo-finetuned", "blind-mc4-demo-vlm")
    assert blind["blind"] and blind["n"] == sighted["n"] and blind["scoring"] == sighted["scoring"]
    assert sighted["accuracy"] > blind["accuracy"] + 0.1
    table = pd.read_csv(work / "results/summary/benchmark.csv")
    assert "blind-mc4-demo-vlm" in set(table["protocol"])


def test_every_job_wrote_its_log(demo):
    logs = {p.relative_to(demo / "results/logs").as_posix() for p in (demo / "results/logs").rglob("*.log")}
    for model in ("demo-mllm", "demo-vlm"):
        assert {f"extract_objects/synthetic/{model}/{s}.log" for s in ("train", "test")} <= logs
        assert {f"build_demo_model/{model}.log", f"linear_probe/synthetic/{model}.log"} <= logs
    assert {"tsne/synthetic/last.log", "tsne/synthetic/mean.log", "summary/synthetic.log"} <= logs
    assert "demo-mllm objects" in (demo / "results/logs/extract_objects/synthetic/demo-mllm/test.log").read_text()
    assert "synthetic images" in (demo / "results/logs/prepare_dataset/synthetic.log").read_text()


def test_rerun_does_nothing_and_report_gathers_figures(demo):
    assert planned_jobs(snakemake(demo, "-n")) == {}
    result = snakemake(demo, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-2000:]
    html = (demo / "report.html").read_text(errors="replace")
    assert "tsne_last.png" in html and "probe.png" in html
    # the error bars (captions say what they are), the per-class figure and the letter-bias table
    assert "twins_classes.png" in html and "letter_bias.csv" in html and "share_A" in html
    assert "95% Wilson" in html and "per_class.csv" in html and "option_seeds.csv" in html


def edited(cfg, tmp_path, edit):
    cfg = yaml.safe_load(yaml.safe_dump(cfg))  # a deep copy, keys reordered on purpose
    edit(cfg)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "c.yaml"


def test_changing_tsne_settings_reruns_only_tsne(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["analysis"]["tsne"].__setitem__("perplexity", 5))
    assert set(planned_jobs(snakemake(demo, "-n", config=changed))) == {"tsne", "all"}


@pytest.mark.parametrize("edit", [
    lambda c: c["extraction"].__setitem__("num_workers", 2),
    lambda c: c["extraction"].__setitem__("batch_size", 7),
    lambda c: c["models"]["demo-mllm"].__setitem__("batch_size", 5),
    lambda c: c["extraction"].__setitem__("device", "cpu"),
    lambda c: c["models"]["demo-finetuned"]["finetune"].update(num_workers=2, checkpoint_every=7,
                                                               collective_timeout_min=5),
    # what a job asks a scheduler for
    lambda c: c["models"]["demo-mllm"].__setitem__("resources", {"mem_mb": 9000, "gpu_mem_mb": 1, "runtime_min": 7}),
    lambda c: c["models"]["demo-finetuned"]["finetune"].update(mem_mb=5000, runtime_min=9),
])
def test_speed_settings_rerun_nothing(demo, cfg, tmp_path, edit):
    assert planned_jobs(snakemake(demo, "-n", config=edited(cfg, tmp_path, edit))) == {}


def test_changing_a_model_reruns_its_chain_only(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["models"]["demo-vlm"].__setitem__("seed", 3))
    jobs = planned_jobs(snakemake(demo, "-n", config=changed))
    # the VLM's own extraction, and demo-finetuned, which trains on the VLM's negatives and options
    assert jobs["build_demo_model"] == 1 and "prepare_dataset" not in jobs
    assert jobs["negatives"] == 1 and jobs["finetune_stage1"] == 1 and jobs["extract_objects"] == 2 + 2


@pytest.mark.parametrize("edit, key", [
    (lambda c: c["datasets"].__setitem__("synthtic", c["datasets"].pop("synthetic")), "datasets.synthtic"),
    (lambda c: c["datasets"]["synthetic"].__setitem__("images_per_class", "forty"), "datasets.synthetic.images_per_class"),
    (lambda c: c["descriptions"].__setitem__("generator", "demo-vlm"), "descriptions.generator"),
    (lambda c: c["negatives"].__setitem__("vlm", "demo-mllm"), "negatives.vlm"),
    (lambda c: c["options"].__setitem__("sources", ["nope"]), "options.sources[0]"),
    (lambda c: c["datasets"]["synthetic-generated"].__setitem__("descriptions", {"file": "missing.csv"}),
     "datasets.synthetic-generated.descriptions.file"),
])
def test_bad_config_fails_before_any_job(cfg, tmp_path, edit, key):
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    edit(cfg)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    result = snakemake(tmp_path, config=tmp_path / "bad.yaml")
    assert result.returncode != 0
    assert f"config key {key}:" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("snakefile", ["Snakefile", "workflow/Snakefile"])  # the root's, and the catalog's and a module's
def test_lint_is_clean(snakefile):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / snakefile), "--lint"],
                            capture_output=True, text=True, cwd=ROOT)
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_paper_config_plans_its_whole_dag_offline(tmp_path):
    """config/paper.yaml: Idefics2-8B + SigLIP over the six data sets, planned with no network
    and nothing beside the clone (FOCI's option files are downloads of their own rule)."""
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert "foci_dir" not in paper["options"]
    paper["models"]["finedefics"]["finetune"]["mem_mb"] = 96000
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(paper))
    result = snakemake(tmp_path, "-n", config=tmp_path / "paper.yaml")
    jobs = planned_jobs(result)
    # Idefics2-8B, Finedefics and SigLIP over train and test of six data sets, and SigLIP over
    # the val splits of flowers102 and aircraft100 (the probe's C): Finedefics trained on them,
    # so it and its base choose C on a held-out part of train; Finedefics trained once per stage
    assert jobs["extract_objects"] == 3 * 6 * 2 + 2
    assert jobs["twins"] == 1
    assert jobs["finetune_stage1"] == 1 and jobs["finetune_stage2"] == 1
    assert jobs["fetch_model"] == 2 and jobs["prepare_dataset"] == 6 and jobs["download_dataset"] == 13
    # options mined for train and test of each set, and val where Finedefics trains on it (train + val)
    assert jobs["describe"] == 6 and jobs["negatives"] == 6 and jobs["mine_options"] == 6 * 2 + 2
    assert jobs["foci_options"] == 6 and jobs["download_foci"] == 6
    text = result.stdout + result.stderr
    extraction = [block for block in text.split("\n\n") if "rule extract_objects:" in block]
    runtime = paper["extraction"]["runtime_min"]
    assert runtime == 240 and extraction and all("gpu=1" in block and "mem_mb=32000" in block and
                                                 re.search(rf"\bruntime={runtime}\b", block) for block in extraction)
    training = [block for block in text.split("\n\n") if "rule finetune_stage" in block]
    assert len(training) == 2 and all("mem_mb=96000" in block for block in training)
    describe = [block for block in text.split("\n\n") if "rule describe:" in block]
    generated = [b for b in describe if "cub200" not in b]
    assert len(generated) == 5 and all("gpu=1" in b for b in generated)
    assert all("gpu=0" in b for b in describe if "cub200" in b)  # CUB: its annotations, no GPU
    # evaluation: Idefics2-8B with mc4-foci (where the official files are), mc4-siglip-so400m and
    # open on each data set, SigLIP's zeroshot on each; one table
    assert jobs["evaluate"] == 2 * 6 * 3 + 6 and jobs["benchmark_table"] == 1
    downloads = [block for block in text.split("\n\n") if "rule download_foci:" in block]
    assert len(downloads) == 6 and all("output: resources/foci/" in b for b in downloads)
    evaluation = [block for block in text.split("\n\n") if "rule evaluate:" in block]
    assert all("gpu=1" in b for b in evaluation if "idefics2-8b" in b)
    assert all("gpu=0" in b for b in evaluation if "zeroshot" in b)  # cached embeddings, no GPU


def test_zoo_plans_offline_and_asks_each_model_for_its_resources(tmp_path):
    """config/zoo.yaml: eight public MLLMs (4B to 12B) and SigLIP, three MLLMs fine-tuned with the
    recipe, planned with no network under the SLURM profile: every GPU rule asks for a GPU and the
    memory and time its model's entry gives, training for its host memory and stage runtime; one
    base / twin comparison of the three pairs."""
    zoo = yaml.safe_load((ROOT / "config" / "zoo.yaml").read_text())
    twins = {m: o["finetune"]["from"] for m, o in zoo["models"].items() if "finetune" in o}
    assert twins == {"finedefics": "idefics2-8b", "qwen2.5-vl-7b-finedefics": "qwen2.5-vl-7b",
                     "llava-onevision-7b-finedefics": "llava-onevision-7b"}
    result = snakemake(tmp_path, "-n", "--profile", str(ROOT / "profiles" / "slurm"), config=ROOT / "config" / "zoo.yaml")
    jobs = planned_jobs(result)
    hub = [m for m, o in zoo["models"].items() if "hf_id" in o]
    mllms = zoo["analysis"]["mllm"]
    assert len(hub) == 9 and jobs["fetch_model"] == 9  # eight MLLMs and SigLIP
    assert jobs["finetune_stage1"] == jobs["finetune_stage2"] == 3 and jobs["twins"] == 1
    assert jobs["evaluate"] == len(mllms) * 6 * 2 + 6  # mc4-foci and open per MLLM and set, SigLIP's zeroshot
    blocks = (result.stdout + result.stderr).split("\n\n")

    def asked(block, key):
        return int(re.search(rf"\b{key}=(\d+)", block)[1])

    for rule in ("extract_objects", "evaluate", "finetune_stage1", "finetune_stage2"):
        for block in [b for b in blocks if f"rule {rule}:" in b]:
            model = re.search(r"model=([^,\s]+)", block)[1]
            if zoo["models"][model]["kind"] == "vlm" and rule == "evaluate":
                assert asked(block, "gpu") == 0
                continue
            own = zoo["models"][model]["resources"]
            assert asked(block, "gpu") == 1 and asked(block, "gpu_mem_mb") == own["gpu_mem_mb"], block
            if rule.startswith("finetune"):
                tune = zoo["models"][model]["finetune"]
                assert asked(block, "mem_mb") == tune["mem_mb"] and asked(block, "runtime") == tune["runtime_min"]
            else:
                assert asked(block, "mem_mb") == own["mem_mb"] and asked(block, "runtime") == own["runtime_min"]


def test_evaluation_rows_metrics_and_zeroshot(demo, cfg):
    """The demo's three evaluations: rows follow the options file, metrics match the rows, and the
    VLM's zero-shot equals a cosine recomputed here from its cached embeddings."""
    ev = demo / "results/eval/synthetic"
    options = [json.loads(line) for line in (demo / "results/data/synthetic/options/demo-vlm/test.jsonl")
               .read_text().splitlines()]
    manifest = pd.read_csv(demo / "results/data/synthetic/manifest.csv", dtype={"image_id": str})
    n_test = (manifest["split"] == "test").sum()
    for model, protocol in (("demo-mllm", "mc4-demo-vlm"), ("demo-mllm", "open"), ("demo-vlm", "zeroshot")):
        rows = [json.loads(line) for line in (ev / model / f"{protocol}.jsonl").read_text().splitlines()]
        info = json.loads((ev / model / f"{protocol}.json").read_text())
        assert len(rows) == info["n"] == n_test and info["demo"] and info["protocol"] == protocol
        assert info["correct"] == sum(r["correct"] for r in rows) and info["accuracy"] == info["correct"] / n_test
        assert not list((ev / model).glob("*.partial"))
        if protocol != "open":
            assert [(r["image_id"], r["options"], r["answer"]) for r in rows] == \
                [(o["image_id"], o["options"], o["answer"]) for o in options]
            assert all(r["prediction"] in r["options"] and len(r["scores"]) == 4 for r in rows)
    mc = json.loads((ev / "demo-mllm/mc4-demo-vlm.json").read_text())
    assert mc["scoring"] == cfg["evaluation"]["scoring"] and mc["invalid"] == 0 and sum(mc["letters"].values()) == n_test
    with h5py.File(demo / "results/embeddings/synthetic/demo-vlm/test.h5") as f:
        images = f["objects/embed"][:]
    with h5py.File(demo / "results/embeddings/synthetic/demo-vlm/categories.h5") as f:
        prompts = f["prompts/embed"][:]
    cos = (images / np.linalg.norm(images, axis=1, keepdims=True)) @ (prompts / np.linalg.norm(prompts, axis=1,
                                                                                               keepdims=True)).T
    rows = [json.loads(line) for line in (ev / "demo-vlm/zeroshot.jsonl").read_text().splitlines()]
    for row, c in zip(rows, cos):
        assert row["prediction_all"] == int(np.argmax(c))
        assert row["prediction"] == row["options"][int(np.argmax(c[row["options"]]))]
    # options mined by this same VLM: the true class wins among its 4 iff it ranks first of all
    zs = json.loads((ev / "demo-vlm/zeroshot.json").read_text())
    assert zs["accuracy"] == zs["accuracy_all"] and zs["options_source"] == "demo-vlm"


def test_benchmark_table_beside_the_papers_numbers(demo):
    table = pd.read_csv(demo / "results/summary/benchmark.csv")
    ours = table[table["source"] == "this run"]
    assert set(zip(ours["model"], ours["protocol"])) == {("demo-mllm", "mc4-demo-vlm"), ("demo-mllm", "open"),
                                                        ("demo-finetuned", "mc4-demo-vlm"),
                                                        ("demo-finetuned", "open"), ("demo-vlm", "zeroshot")}
    assert ours["demo"].all() and ours["synthetic"].notna().all()
    mc = json.loads((demo / "results/eval/synthetic/demo-mllm/mc4-demo-vlm.json").read_text())
    row = (ours["model"] == "demo-mllm") & (ours["protocol"] == "mc4-demo-vlm")
    assert ours.loc[row, "synthetic"].item() == round(100 * mc["accuracy"], 2)
    paper = table[table["source"] == "paper"].set_index("model")
    assert paper.loc["Finedefics", "cars196"] == 84.67 and paper.loc["Finedefics", "avg"] == 76.84
    assert paper.loc["SigLIP-so400m", "pets37"] == 95.64 and paper.loc["Idefics2-8B", "aircraft100"] == 56.23
    md = (demo / "results/summary/benchmark.md").read_text()
    assert "demo-mllm (demo)" in md and "Idefics2-8B (paper [2])" in md and "[?]" not in md
    assert (demo / "results/summary/benchmark.png").stat().st_size > 10_000
    report = demo / "report.html"
    if not report.exists():
        assert snakemake(demo, "--report", str(report)).returncode == 0
    assert "benchmark.png" in report.read_text(errors="replace")


@pytest.mark.parametrize("key, value", [("scoring", "letters"), ("max_new_tokens", 3), ("open_max_new_tokens", 3),
                                        ("parser", "letter"), ("option_names", "clean"), ("foci_wrap", False)])
def test_an_evaluation_setting_reruns_the_protocols_that_read_it(demo, cfg, tmp_path, key, value):
    """scoring: the two MLLMs' mc4 jobs; max_new_tokens and parser: none (the demo scores by names,
    not generate); open_max_new_tokens: the two open jobs; option_names and foci_wrap: none (the
    demo's options are mined, not FOCI's). Then the base / twin comparison, the per-class tables and
    the table."""
    changed = edited(cfg, tmp_path, lambda c: c["evaluation"].__setitem__(key, value))
    planned = planned_jobs(snakemake(demo, "-n", config=changed))
    reruns = key in ("scoring", "open_max_new_tokens")
    assert planned == ({"evaluate": 2, "twins": 1, "per_class": 1, "benchmark_table": 1, "all": 1} if reruns else {})


def test_results_of_other_prompt_tokens_rerun(demo, tmp_path):
    """A copy of the workflow whose prompt-format version moved (as this change moved it from 1):
    every MLLM evaluation, the generated descriptions and the fine-tuning (its stage-2 prompts)
    have changed params and rerun; the VLM's zeroshot, which asks no prompt, does not. The
    unchanged workflow reruns nothing."""
    import shutil

    copy = tmp_path / "workflow-copy"
    copy.mkdir()
    for part in ("Snakefile", "rules", "workflow", "config", "environment.yml"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy)(ROOT / part, copy / part)
    prompts = copy / "workflow/fgvr/prompts.py"
    text = prompts.read_text()
    assert text.count("\nPROMPT_FORMAT = ") == 1
    prompts.write_text(re.sub(r"\nPROMPT_FORMAT = (\d+)", lambda m: f"\nPROMPT_FORMAT = {int(m[1]) + 1}", text))

    def dry_run(snakefile):
        result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(demo),
                                 "--configfile", str(CONFIG), "--cores", "2", "-n"], capture_output=True, text=True)
        return planned_jobs(result), result.stdout + result.stderr

    assert dry_run(ROOT / "Snakefile")[0] == {}
    jobs, text = dry_run(copy / "Snakefile")
    # demo-mllm's and demo-finetuned's mc4 and open, never the VLM's zeroshot; the generated
    # descriptions (synthetic's come from ground truth, no prompt); both fine-tuning stages
    assert jobs["evaluate"] == 4 and jobs["describe"] == 1 and jobs["finetune_stage1"] == jobs["finetune_stage2"] == 1
    evaluations = [block for block in text.split("\n\n") if "rule evaluate:" in block]
    assert len(evaluations) == 4 and not any("zeroshot" in block for block in evaluations)
    base = [block for block in evaluations if "model=demo-mllm" in block]  # demo-finetuned's: its new weights too
    assert len(base) == 2 and all("Params have changed" in b and "now: {" in b and f"'prompt_format': {PROMPT_FORMAT + 1}" in
                                  b.split("now: {")[1] for b in base)
    describe = next(block for block in text.split("\n\n") if "rule describe:" in block)
    assert "synthetic-generated" in describe


def test_evaluation_batch_size_reruns_nothing(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["evaluation"].__setitem__("batch_size", 3))
    assert planned_jobs(snakemake(demo, "-n", config=changed)) == {}


# ------------------------------------------------------------------------------ numbers a reader can trust

def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def wilson(k, n):
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(k, n, alpha=0.05, method="wilson")


def test_intervals_letters_and_classes_equal_a_recomputation_from_the_rows(demo):
    """Each evaluation's interval and letter bias, benchmark.csv's intervals, summary.csv's probe and
    alignment intervals and the per-class tables, recomputed here from the JSONL rows with
    statsmodels and numpy."""
    from collections import Counter

    ev = demo / "results/eval/synthetic"
    table = pd.read_csv(demo / "results/summary/benchmark.csv")
    letters = pd.read_csv(demo / "results/summary/letter_bias.csv").set_index(["model", "protocol"])
    per_class = pd.read_csv(demo / "results/summary/per_class.csv")
    confusions = pd.read_csv(demo / "results/summary/confusions.csv")
    for model, protocol in (("demo-mllm", "mc4-demo-vlm"), ("demo-finetuned", "mc4-demo-vlm"), ("demo-mllm", "open"),
                            ("demo-finetuned", "open"), ("demo-vlm", "zeroshot")):
        rows, info = rows_of(ev / model / f"{protocol}.jsonl"), json.loads((ev / model / f"{protocol}.json").read_text())
        right = np.array([r["correct"] for r in rows])
        assert info["accuracy_ci"] == pytest.approx(wilson(right.sum(), len(rows)), abs=1e-12)
        row = table[(table["model"] == model) & (table["protocol"] == protocol)].iloc[0]
        assert (row["synthetic_lo"], row["synthetic_hi"]) == pytest.approx(
            tuple(round(100 * v, 2) for v in wilson(right.sum(), len(rows))), abs=1e-9)
        if protocol != "open":
            picked = np.array([r["options"].index(r["prediction"]) for r in rows])
            answers = np.array([r["answer"] for r in rows])
            for j, x in enumerate("ABCD"):
                assert info["letter_share"][x] == pytest.approx(np.mean(picked == j))
                assert info["accuracy_by_position"][x] == pytest.approx(right[answers == j].mean())
                assert letters.loc[(model, protocol), f"share_{x}"] == pytest.approx(np.mean(picked == j), abs=1e-4)
            assert sorted(Counter(answers.tolist()).values()) == [30, 30, 30, 30]  # letter-balanced options
        mine = per_class[(per_class["model"] == model) & (per_class["protocol"] == protocol)]
        frame = pd.DataFrame(rows)
        expected = frame.groupby("label")["correct"].agg(["sum", "size"])
        assert mine["correct"].tolist() == expected["sum"].tolist() and mine["n"].tolist() == expected["size"].tolist()
        for r in mine.itertuples():
            assert (r.accuracy_lo, r.accuracy_hi) == pytest.approx(wilson(r.correct, r.n), abs=1e-12)
        wrong = Counter((r["label"], r["prediction"]) for r in rows if not r["correct"] and r["prediction"] is not None)
        pairs = confusions[(confusions["model"] == model) & (confusions["protocol"] == protocol)]
        top = sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        assert list(zip(pairs["label"], pairs["chosen_label"], pairs["count"])) == [(t, c, k) for (t, c), k in top]
    summary = pd.read_csv(demo / "results/analysis/synthetic/summary.csv")
    probe = json.loads((ev.parent.parent / "analysis/synthetic/demo-mllm/probe.json").read_text())
    found = probe["results"]["objects"]["llm.last"]
    row = summary[(summary["model"] == "demo-mllm") & (summary["analysis"] == "probe") & (summary["group"] == "objects")
                  & (summary["representation"] == "llm.last") & (summary["metric"] == "accuracy")].iloc[0]
    k = round(found["accuracy"] * found["n_test"])
    assert (row["lo"], row["hi"]) == pytest.approx(wilson(k, found["n_test"]), abs=1e-12)
    md = (demo / "results/summary/benchmark.md").read_text()
    assert re.search(r"\| demo-mllm \(demo\) \| mc4-demo-vlm \| 4-way accuracy \(names\) \|(?: - \|)* [\d.]+ \[[\d.]+, [\d.]+\] \|", md)
    assert "## Letter bias" in md and "## Option order" in md


def test_twins_pair_each_image_of_base_and_twin(demo):
    """twins.csv's paired numbers, recomputed from the two models' rows: won / lost / both, the
    exact McNemar p-value (scipy's binomial test) and Newcombe's interval (written out in
    tests/test_stats.py); twins_classes.csv's per-class changes; twins.md shows them."""
    from scipy.stats import binomtest
    from test_stats import newcombe_by_hand

    twins = pd.read_csv(demo / "results/summary/twins.csv").set_index("measure")
    ev = demo / "results/eval/synthetic"
    for protocol, measure, key in (("mc4-demo-vlm", "mc4-demo-vlm 4-way accuracy (names)", "correct"),
                                   ("open", "open exact match", "correct"), ("open", "open fuzzy match", "fuzzy_correct")):
        base = {r["image_id"]: r[key] for r in rows_of(ev / "demo-mllm" / f"{protocol}.jsonl")}
        twin = {r["image_id"]: r[key] for r in rows_of(ev / "demo-finetuned" / f"{protocol}.jsonl")}
        b = np.array([base[i] for i in base], dtype=float)
        t = np.array([twin[i] for i in base], dtype=float)
        won, lost = int(((t == 1) & (b == 0)).sum()), int(((t == 0) & (b == 1)).sum())
        row = twins.loc[measure]
        assert (row["won"], row["lost"], row["both_right"], row["both_wrong"]) == (
            won, lost, int(((t == 1) & (b == 1)).sum()), int(((t == 0) & (b == 0)).sum()))
        p = 1.0 if won + lost == 0 else binomtest(won, won + lost, 0.5).pvalue
        assert row["p_mcnemar"] == pytest.approx(p, rel=1e-9)
        diff, lo, hi = newcombe_by_hand(b, t)
        assert (row["difference_lo"], row["difference_hi"]) == pytest.approx((100 * lo, 100 * hi), abs=0.006)
        assert (row["twin_lo"], row["twin_hi"]) == pytest.approx(tuple(100 * v for v in wilson(t.sum(), len(t))),
                                                                 abs=0.006)
    changes = pd.read_csv(demo / "results/summary/twins_classes.csv")
    mc4 = changes[changes["protocol"] == "mc4-demo-vlm"].set_index("label")
    frame = {m: pd.DataFrame(rows_of(ev / m / "mc4-demo-vlm.jsonl")).groupby("label")["correct"].mean()
             for m in ("demo-mllm", "demo-finetuned")}
    diff = 100 * (frame["demo-finetuned"] - frame["demo-mllm"])
    assert mc4["difference"].to_numpy() == pytest.approx(diff.loc[mc4.index].to_numpy(), abs=0.006)
    assert (mc4["change"] == "gained").sum() == (diff.round(2) > 0).sum()
    md = (demo / "results/summary/twins.md").read_text()
    assert "McNemar p" in md and "won / lost" in md and "Classes gained and lost" in md
    assert (demo / "results/summary/twins_classes.png").stat().st_size > 10_000


def test_a_second_option_seed_reruns_only_its_evaluations(demo, cfg, tmp_path):
    """evaluation.option_seeds [0, 1] on the finished demo (in a copy): only seed 1's two mc4
    evaluations and the table that reads them run. Seed 1's rows are the same options in a
    letter-balanced order of their own; option_seeds.csv's per-seed, mean and spread numbers equal
    those recomputed from the two seeds' rows."""
    import shutil

    changed = edited(cfg, tmp_path, lambda c: c["evaluation"].__setitem__("option_seeds", [0, 1]))
    assert planned_jobs(snakemake(demo, "-n", config=changed)) == {"evaluate_seed": 2, "benchmark_table": 1, "all": 1}
    work = tmp_path / "demo"
    shutil.copytree(demo, work, symlinks=True)
    result = snakemake(work, "--allowed-rules", "evaluate_seed", "benchmark_table", "all", config=changed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(snakemake(work, "-n", config=changed)) == {}
    orders = pd.read_csv(work / "results/summary/option_seeds.csv", dtype={"option_seed": str})
    ev = work / "results/eval/synthetic"
    for model in ("demo-mllm", "demo-finetuned"):
        first, second = rows_of(ev / model / "mc4-demo-vlm.jsonl"), rows_of(ev / model / "seed1/mc4-demo-vlm.jsonl")
        assert [(r["image_id"], sorted(r["options"])) for r in first] == [(r["image_id"], sorted(r["options"]))
                                                                         for r in second]
        assert [r["options"] for r in first] != [r["options"] for r in second]
        assert all(r["options"][r["answer"]] == r["label"] for r in second)
        assert sorted(np.bincount([r["answer"] for r in second]).tolist()) == [30, 30, 30, 30]
        accs = [100 * np.mean([r["correct"] for r in rows]) for rows in (first, second)]
        mine = orders[orders["model"] == model].set_index("option_seed")
        assert mine.loc["0", "accuracy"] == pytest.approx(accs[0], abs=0.006)
        assert mine.loc["1", "accuracy"] == pytest.approx(accs[1], abs=0.006)
        assert mine.loc["all", "mean"] == pytest.approx(np.mean(accs), abs=0.006)
        assert mine.loc["all", "sd"] == pytest.approx(np.std(accs, ddof=1), abs=0.006)
        info = json.loads((ev / model / "seed1/mc4-demo-vlm.json").read_text())
        assert info["option_seed"] == 1 and info["n"] == len(second)
    letters = pd.read_csv(work / "results/summary/letter_bias.csv")
    assert sorted(letters.loc[letters["protocol"] == "mc4-demo-vlm", "option_seed"]) == [0, 0, 1, 1]


def test_compare_plans_one_table(demo, cfg, tmp_path):
    changed = edited(cfg, tmp_path, lambda c: c["evaluation"].__setitem__("compare", [["demo-mllm", "demo-finetuned"]]))
    assert planned_jobs(snakemake(demo, "-n", config=changed)) == {"compare": 1, "all": 1}


def test_module_deployment_runs_in_the_users_folder_with_the_roots_numbers(demo, tmp_path):
    """The demo as a user of the workflow catalog runs it: deployed with snakedeploy into an empty
    folder (a Snakefile loading this clone's workflow/Snakefile as a module, with the demo's
    config/config.yaml as the user's), plain `snakemake` there, offline. Every result lands in the
    user's folder, with the alignment, probe and benchmark numbers of the root's demo run."""
    from test_deploy import deploy, numbers, run

    user = tmp_path / "my-analysis"
    deploy(user, tmp_path / "source")
    log = run([], cwd=user)
    assert "Nothing to be done" not in log
    deployed, rooted = numbers(user), numbers(demo)
    assert len(deployed) == 1 + 2 * 3  # three models' alignment and probe, and the benchmark table
    assert deployed == rooted
    for part in ("results", "resources"):  # the root's demo folder may hold more (other tests' runs)
        files = {p.relative_to(user / part).as_posix() for p in (user / part).rglob("*") if p.is_file()}
        assert files and files <= {p.relative_to(demo / part).as_posix() for p in (demo / part).rglob("*")}
    assert (user / "resources/models/demo-mllm/config.json").is_file()
    assert not (user / "workflow" / "fgvr").exists()  # the library stayed in the clone
    assert "Nothing to be done" in run(["-n"], cwd=user)
    run(["--report", "report.html"], cwd=user)
    assert "probe.png" in (user / "report.html").read_text(errors="replace")
