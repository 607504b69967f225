"""fgvr.twins: a fine-tuned model beside its base, from the two models' own result files."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from fgvr import twins


def probe(acc, source="official val split"):
    return {"demo": False, "results": {"objects": {"llm.last": {"accuracy": acc, "selection": {"val_source": source}},
                                                   "llm.mean": {"accuracy": 0.99, "selection": {"val_source": source}}}}}


def alignment(acc, gap):
    return {"demo": False, "results": {"names": {"llm.last": {"accuracy": acc, "gap": gap, "chance": 0.1}}}}


def evaluation(acc, protocol="mc4-foci", scoring="generate"):
    return {"demo": False, "protocol": protocol, "scoring": scoring, "accuracy": acc}


@pytest.fixture
def jobs(tmp_path):
    files = {("a", "probe", "base"): probe(0.5, "stratified 0.15 of train, seed 0"),
             ("a", "probe", "twin"): probe(0.625, "stratified 0.15 of train, seed 0"),
             ("a", "alignment", "base"): alignment(0.1, 0.01), ("a", "alignment", "twin"): alignment(0.4, 0.25),
             ("a", "eval", "base"): evaluation(0.75), ("a", "eval", "twin"): evaluation(0.875),
             ("b", "probe", "base"): probe(0.3), ("b", "probe", "twin"): probe(0.2)}
    for key, content in files.items():
        (tmp_path / f"{'-'.join(key)}.json").write_text(json.dumps(content))
    out = []
    for ds, kind in {(k[0], k[1]) for k in files}:
        out.append({"dataset": ds, "kind": kind, "base": "m", "twin": "m-tuned",
                    "protocol": "mc4-foci" if kind == "eval" else None,
                    "base_file": str(tmp_path / f"{ds}-{kind}-base.json"),
                    "twin_file": str(tmp_path / f"{ds}-{kind}-twin.json")})
    return sorted(out, key=lambda j: (j["dataset"], j["kind"]))


def test_each_measure_side_by_side_with_the_difference(jobs, tmp_path):
    frame = twins.compare(jobs).set_index(["dataset", "measure"])
    expected = {("a", "alignment accuracy"): (10.0, 40.0, 30.0), ("a", "cosine gap"): (0.01, 0.25, 0.24),
                ("a", "probe accuracy"): (50.0, 62.5, 12.5), ("a", "mc4-foci 4-way accuracy (generate)"): (75.0, 87.5, 12.5),
                ("b", "probe accuracy"): (30.0, 20.0, -10.0)}
    assert sorted(frame.index) == sorted(expected)
    for key, (base, twin, diff) in expected.items():
        row = frame.loc[key]
        assert (row["base_value"], row["twin_value"]) == pytest.approx((base, twin)) and row["difference"] == pytest.approx(diff)
    assert frame.loc[("a", "probe accuracy"), "note"] == "C chosen on stratified 0.15 of train, seed 0"
    assert frame.loc[("b", "probe accuracy"), "note"] == "C chosen on official val split"
    md = twins.markdown(twins.compare(jobs))
    assert md.startswith("\n## Base and fine-tuned twin") and md.count("| m | m-tuned |") == len(expected)
    assert "| b | m | m-tuned | probe accuracy | 30 | 20 | -10 |" in md
    twins.write(twins.compare(jobs), tmp_path / "t.csv", tmp_path / "t.png")
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(expected)
    with Image.open(tmp_path / "t.png") as figure:
        assert figure.width > 600 and figure.height > 300


def test_a_representation_the_results_lack_is_named(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"results": {"objects": {"embed": {}}}}))
    job = {"dataset": "a", "kind": "probe", "base": "m", "twin": "t", "base_file": str(tmp_path / "p.json"),
           "twin_file": str(tmp_path / "p.json")}
    with pytest.raises(Exception, match="objects/llm.last"):
        twins.compare([job])
