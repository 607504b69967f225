"""Hard negatives and 4-way options (fgvr.options): hand-made embeddings whose neighbours are known,
the demo VLM's real features against an independent cosine ranking, FOCI-format files made
here, and (where ../shared/data/foci-options is) the six official option files imported in full."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from official_fixtures import DOG_EXTRA, FOCI_DIR, FOCI_FILES, NAMES, foci, foci_images, needs_foci

from fgvr import options
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError
from fgvr.store import PartialStore, read_store


def store(path: Path, labels, ids, groups: dict[str, np.ndarray], model: str = "vlm", categories: bool = False):
    """A finished HDF5 store holding ``groups`` ({"names/embed": (N, D)}), read back."""
    ids_key = "class_names" if categories else "image_ids"
    with PartialStore(path, len(labels), "fp", {"model": model},
                      {"labels": np.asarray(labels, dtype=np.int64), ids_key: np.asarray(ids, dtype=object)}) as s:
        s.write(np.arange(len(labels)), groups, list(ids))
        s.finish()
    return read_store(path)


def unit_angles(degrees) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity, written out independently of fgvr.options."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b.T) / np.outer(np.sqrt((a * a).sum(1)), np.sqrt((b * b).sum(1)))


# ------------------------------------------------------------------------------ negatives

def test_negatives_by_names_are_the_nearest_classes(tmp_path):
    # classes on a circle: label -> angle; rows stored out of label order on purpose
    angle = {0: 0, 1: 10, 2: 30, 3: 100, 4: 180}
    labels = [3, 0, 4, 2, 1]
    cats = store(tmp_path / "c.h5", labels, [f"class {y}" for y in labels],
                 {"names/embed": 5 * unit_angles([angle[y] for y in labels])}, categories=True)
    frame = options.negatives(cats, "names", 3, "toy")
    assert list(frame.columns) == ["label", "rank", "negative_label", "similarity"]
    got = {y: frame[frame["label"] == y]["negative_label"].tolist() for y in angle}
    assert got == {0: [1, 2, 3], 1: [0, 2, 3], 2: [1, 0, 3], 3: [2, 4, 1], 4: [3, 2, 1]}
    assert frame["rank"].tolist() == [1, 2, 3] * 5
    assert frame["label"].tolist() == [y for y in sorted(angle) for _ in range(3)]
    row = frame[(frame["label"] == 0) & (frame["rank"] == 2)].iloc[0]
    assert row["similarity"] == pytest.approx(np.cos(np.radians(30)))
    assert (frame["label"] != frame["negative_label"]).all()


def test_negative_ties_go_to_the_lower_label(tmp_path):
    # label 5 is at 0 degrees; 9, 7 and 2 at 90 or 270 degrees (cosine exactly 0 to it), 1 at 180
    labels = [9, 5, 7, 2, 1]
    cats = store(tmp_path / "c.h5", labels, list("abcde"),
                 {"names/embed": np.array([[0, 1], [1, 0], [0, -1], [0, 1], [-1, 0]], dtype=np.float32)},
                 categories=True)
    frame = options.negatives(cats, "names", 4, "toy")
    assert frame[frame["label"] == 5]["negative_label"].tolist() == [2, 7, 9, 1]


def test_negatives_by_images_average_unit_image_embeddings(tmp_path):
    """Class A's images point along x (length 100) and y (length 1): per image normalised, A's
    mean points at 45 degrees, where B is; unnormalised it would point at C (x)."""
    images = {"A": [[100, 0, 0], [0, 1, 0]], "B": [[1, 1, 0], [2, 2, 0]], "C": [[1, 0, 0], [3, 0, 0]],
              "D": [[0, 0, 1], [0, 0, 2]]}
    label = {"A": 0, "B": 1, "C": 2, "D": 3}
    rows = [(label[c], v) for c, vs in images.items() for v in vs]
    train = store(tmp_path / "train.h5", [y for y, _ in rows], [f"img{i}" for i in range(len(rows))],
                  {"objects/embed": np.array([v for _, v in rows], dtype=np.float32)})
    frame = options.negatives(train, "images", 2, "toy")
    a = frame[frame["label"] == 0]
    assert a["negative_label"].tolist() == [1, 2]
    assert a["similarity"].tolist() == pytest.approx([1.0, np.cos(np.radians(45))])
    assert frame[frame["label"] == 3]["similarity"].tolist() == pytest.approx([0.0, 0.0])
    with pytest.raises(FgvrError, match=r"toy: .*train.h5 has no images embedding of class\(es\) \[4\]"):
        options.negatives(train, "images", 2, "toy", labels=[0, 1, 2, 3, 4])


def test_negatives_of_the_demo_vlm_match_an_independent_ranking(adapters, small_dataset, tmp_path):
    from fgvr.extract import extract_categories

    classes = read_classes(small_dataset / "classes.csv")
    cats = read_store(extract_categories(adapters["vlm"], classes, tmp_path / "categories.h5", "demo-vlm"))
    frame = options.negatives(cats, "names", 3, "synthetic", labels=classes["label"])
    sims = cosine(cats.groups["names"]["embed"], cats.groups["names"]["embed"])
    for i, y in enumerate(cats.labels):
        others = [j for j in range(len(cats.labels)) if j != i]
        expected = sorted(others, key=lambda j: (-sims[i, j], cats.labels[j]))[:3]
        mine = frame[frame["label"] == y]
        assert mine["negative_label"].tolist() == [int(cats.labels[j]) for j in expected]
        assert mine["similarity"].tolist() == pytest.approx([sims[i, j] for j in expected], abs=1e-6)
    options.write_negatives(tmp_path / "neg.csv", frame)
    pd.testing.assert_frame_equal(options.read_negatives(tmp_path / "neg.csv"), frame)


def test_negatives_bad_input(tmp_path):
    cats = store(tmp_path / "c.h5", [0, 1, 2], list("abc"), {"names/embed": unit_angles([0, 50, 90])}, categories=True)
    with pytest.raises(FgvrError, match=r"toy: negatives.k must be an integer from 1 to 2 "
                                        r"\(the data set has 3 classes\), got 3"):
        options.negatives(cats, "names", 3, "toy")
    with pytest.raises(FgvrError, match="got 0"):
        options.negatives(cats, "names", 0, "toy")
    with pytest.raises(FgvrError, match="negatives.by must be 'names' or 'images', got 'words'"):
        options.negatives(cats, "words", 1, "toy")
    mllm = store(tmp_path / "m.h5", [0, 1, 2], list("abc"), {"names/llm.last": unit_angles([0, 50, 90])},
                 model="demo-mllm", categories=True)
    with pytest.raises(FgvrError, match=r"toy: .*m.h5 has no names/embed .*is demo-mllm a VLM"):
        options.negatives(mllm, "names", 1, "toy")


# ------------------------------------------------------------------------------ options mined by a VLM

@pytest.fixture(scope="module")
def demo_features(adapters, small_dataset, tmp_path_factory):
    """The demo VLM's test split and categories (with prompts) of the small synthetic set."""
    from fgvr.extract import extract_categories, extract_split

    out = tmp_path_factory.mktemp("features")
    manifest = read_manifest(small_dataset / "manifest.csv")
    classes = read_classes(small_dataset / "classes.csv")
    test = extract_split(adapters["vlm"], manifest[manifest["split"] == "test"], out / "test.h5", "demo-vlm",
                         batch_size=8, progress=False)
    cats = extract_categories(adapters["vlm"], classes, out / "categories.h5", "demo-vlm")
    return manifest, classes, read_store(test), read_store(cats)


def reference_distractors(objects, cats, image_ids, labels) -> list[list[int]]:
    """The 3 wrong classes of highest cosine (image embedding vs prompt embedding), ties by label."""
    row = {i: n for n, i in enumerate(objects.ids)}
    sims = cosine(objects.groups["objects"]["embed"], cats.groups["prompts"]["embed"])
    out = []
    for image, y in zip(image_ids, labels):
        wrong = [j for j in range(len(cats.labels)) if cats.labels[j] != y]
        wrong.sort(key=lambda j: (-sims[row[image], j], cats.labels[j]))
        out.append([int(cats.labels[j]) for j in wrong[:3]])
    return out


def test_mined_options_are_the_true_class_and_its_top3_confusions(demo_features):
    manifest, classes, test, cats = demo_features
    rows = options.mine_options(test, cats, manifest, 0, "synthetic", "test")
    split = manifest[manifest["split"] == "test"]
    assert [r["image_id"] for r in rows] == split["image_id"].tolist()  # manifest order
    assert [r["label"] for r in rows] == split["label"].tolist()
    expected = reference_distractors(test, cats, split["image_id"], split["label"])
    for row, distractors in zip(rows, expected):
        assert len(set(row["options"])) == 4 and row["options"][row["answer"]] == row["label"]
        assert sorted(o for o in row["options"] if o != row["label"]) == sorted(distractors)
    assert len({tuple(r["options"]) for r in rows}) > 1  # not one fixed list
    options.check_options(rows, "mined", manifest, classes)


def test_options_are_seeded_and_deterministic(demo_features, tmp_path):
    manifest, _, test, cats = demo_features
    paths = []
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        paths.append(tmp_path / f"{name}.jsonl")
        options.write_options(paths[-1], options.mine_options(test, cats, manifest, seed, "synthetic", "test"))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    zero, one = options.read_options(paths[0], manifest), options.read_options(paths[2], manifest)
    assert [set(r["options"]) for r in zero] == [set(r["options"]) for r in one]
    assert sum(r["options"] != s["options"] for r, s in zip(zero, one)) > len(zero) // 2
    first = json.loads(paths[0].read_text().splitlines()[0])
    assert list(first) == ["image_id", "label", "options", "answer"]


def test_answer_positions_are_roughly_uniform(tmp_path):
    """400 images of 10 classes with random embeddings: each position holds the answer about 100 times."""
    rng = np.random.default_rng(7)
    n, c = 400, 10
    labels = np.arange(n) % c
    ids = [f"img{i:03d}" for i in range(n)]
    objects = store(tmp_path / "test.h5", labels, ids, {"objects/embed": rng.normal(size=(n, 16)).astype(np.float32)})
    cats = store(tmp_path / "categories.h5", np.arange(c), [f"class {y}" for y in range(c)],
                 {"prompts/embed": rng.normal(size=(c, 16)).astype(np.float32)}, categories=True)
    manifest = pd.DataFrame({"image_id": ids, "label": labels, "split": "test"})
    rows = options.mine_options(objects, cats, manifest, 0, "toy", "test")
    counts = Counter(r["answer"] for r in rows)
    assert sorted(counts) == [0, 1, 2, 3] and set(counts.values()) == {n // 4}, counts  # balanced answer letters
    assert len({tuple(r["options"]) for r in rows if r["label"] == 0}) > 10  # and the distractors shuffled
    expected = reference_distractors(objects, cats, ids, labels)
    assert all(sorted(set(r["options"]) - {r["label"]}) == sorted(e) for r, e in zip(rows, expected))
    # another split (or data set) of the same seed is arranged differently
    other = options.arrangement(n, 0, "toy", "val")
    assert (other != options.arrangement(n, 0, "toy", "test")).any(axis=1).sum() > n // 2


def test_mining_bad_input(demo_features, tmp_path):
    manifest, classes, test, cats = demo_features
    with pytest.raises(FgvrError, match=r"synthetic: .*test.h5 lacks 54 image\(s\) of split 'train'"):
        options.mine_options(test, cats, manifest, 0, "synthetic", "train")
    names_only = store(tmp_path / "old.h5", cats.labels, cats.ids, {"names/embed": cats.groups["names"]["embed"]},
                       model="demo-vlm", categories=True)
    with pytest.raises(FgvrError, match=r"synthetic: .*old.h5 has no prompts/embed"):
        options.mine_options(test, names_only, manifest, 0, "synthetic", "test")
    with pytest.raises(FgvrError, match="come from different models"):
        other = store(tmp_path / "other.h5", cats.labels, cats.ids, {"prompts/embed": cats.groups["prompts"]["embed"]},
                      model="siglip", categories=True)
        options.mine_options(test, other, manifest, 0, "synthetic", "test")
    with pytest.raises(FgvrError, match="no images in split 'val'"):
        options.mine_options(test, cats, manifest, 0, "synthetic", "val")
    with pytest.raises(FgvrError, match="seed must be a non-negative integer"):
        options.mine_options(test, cats, manifest, -1, "synthetic", "test")


# ------------------------------------------------------------------------------ FOCI-format files

def foci_file(path: Path, entries: list[tuple[str, str, list[str]]]) -> Path:
    """A file in the official format from (image path, ground truth, options) triples."""
    data: dict[str, list] = {}
    for image, truth, opts in entries:
        data.setdefault(truth, []).append({"image": f"images/{image}", "options": opts, "groundtruth": truth})
    path.write_text(json.dumps(data))
    return path


def foci_spelling(name: str) -> str:
    """How FOCI's files spell names: raw, underscores (e.g. "Black_footed_Albatross")."""
    return name.replace(" ", "_").replace("-", "_")


def test_foci_file_gets_the_arrangement_of_mined_options(demo_features, tmp_path):
    """A FOCI-format file listing, per image, the true class then the VLM's 3 top confusions
    (names spelled FOCI's way) imports to exactly the mined rows: same options, same order; each
    row keeps the four names as the file spells them, in the options' order."""
    manifest, classes, test, cats = demo_features
    split = manifest[manifest["split"] == "test"]
    name = dict(zip(classes["label"], classes["class_name"]))
    expected = reference_distractors(test, cats, split["image_id"], split["label"])
    entries = [("/".join(Path(p).parts[-2:]), foci_spelling(name[y]), [foci_spelling(name[x]) for x in [y, *d]])
               for p, y, d in zip(split["path"], split["label"], expected)]
    path = foci_file(tmp_path / "synthetic.json", entries[::-1])  # file order is not manifest order
    imported = options.import_foci(path, manifest, classes, 3, "synthetic")
    assert [{k: v for k, v in r.items() if k != "names"} for r in imported] == options.mine_options(
        test, cats, manifest, 3, "synthetic", "test")
    for r in imported:
        assert r["names"] == [foci_spelling(name[o]) for o in r["options"]]
        assert r["names"][r["answer"]] == foci_spelling(name[r["label"]]) and "_" in r["names"][r["answer"]]
    written = tmp_path / "rows.jsonl"
    options.write_options(written, imported)
    assert options.read_options(written) == imported  # names survive the file


@pytest.fixture()
def synthetic_foci(small_dataset, tmp_path):
    manifest = read_manifest(small_dataset / "manifest.csv")
    classes = read_classes(small_dataset / "classes.csv")
    split = manifest[manifest["split"] == "test"]
    names = classes["class_name"].tolist()
    entries = [("/".join(Path(p).parts[-2:]), names[y], [names[y]] + [n for n in names if n != names[y]][:3])
               for p, y in zip(split["path"], split["label"])]
    return manifest, classes, entries


def test_foci_unknown_class_or_image_stops_naming_them(synthetic_foci, tmp_path):
    manifest, classes, entries = synthetic_foci
    bad = [(entries[0][0], entries[0][1], entries[0][2][:3] + ["Purple Unicorn"]), *entries[1:]]
    path = foci_file(tmp_path / "bad-class.json", bad)
    with pytest.raises(FgvrError, match=r"synthetic: .*bad-class.json: 1 name\(s\) match no class of classes.csv: "
                                        r"'Purple Unicorn'"):
        options.import_foci(path, manifest, classes, 0, "synthetic")
    path = foci_file(tmp_path / "bad-image.json", [*entries, ("007/007_0099.png", entries[0][1], entries[0][2])])
    with pytest.raises(FgvrError, match=r"synthetic: .*bad-image.json: 1 FOCI image\(s\) are not in the test split, "
                                        r"e.g. \['007/007_0099.png'\]"):
        options.import_foci(path, manifest, classes, 0, "synthetic")
    wrong = [(entries[0][0], entries[0][2][1], [entries[0][2][1], entries[0][2][0], *entries[0][2][2:]]), *entries[1:]]
    with pytest.raises(FgvrError, match=r"1 entr\(ies\) disagree with the data set, e.g. 001/001_0000.png is"):
        options.import_foci(foci_file(tmp_path / "wrong.json", wrong), manifest, classes, 0, "synthetic")
    with pytest.raises(FgvrError, match="not a readable FOCI option file"):
        options.import_foci(tmp_path / "absent.json", manifest, classes, 0, "synthetic")


def test_foci_names_map_through_normalisation_and_aliases(synthetic_foci, tmp_path):
    manifest, classes, entries = synthetic_foci
    first = entries[0][2][1]  # a distractor of the first image, spelled another way, then by an alias
    shouting = [(entries[0][0], entries[0][1], [*entries[0][2][:1], f"  {first.upper()}!! ", *entries[0][2][2:]]),
                *entries[1:]]
    rows = options.import_foci(foci_file(tmp_path / "a.json", shouting), manifest, classes, 0, "synthetic")
    plain = options.import_foci(foci_file(tmp_path / "b.json", entries), manifest, classes, 0, "synthetic")
    assert [r["options"] for r in rows] == [r["options"] for r in plain]
    assert f"  {first.upper()}!! " in rows[0]["names"] and first in plain[0]["names"]  # shown as the file spells it
    assert rows[1:] == plain[1:]
    nick = [(entries[0][0], entries[0][1], [entries[0][2][0], "mystery bird", *entries[0][2][2:]]), *entries[1:]]
    with pytest.raises(FgvrError, match="'mystery bird'"):
        options.import_foci(foci_file(tmp_path / "c.json", nick), manifest, classes, 0, "synthetic")
    aliased = options.import_foci(foci_file(tmp_path / "c.json", nick), manifest, classes, 0, "synthetic",
                                  aliases={"mystery bird": first})
    assert [r["options"] for r in aliased] == [r["options"] for r in plain] and "mystery bird" in aliased[0]["names"]


@pytest.mark.parametrize("foci_name, ours", [
    ("boston bull", "n02096585-Boston_bull"),
    ("Boston_bull", "Boston Bull"),
    ("Chuck_will_Widow", "022.Chuck_will_Widow"),
    ("Black_footed_Albatross", "Black-footed Albatross"),
    ("american_bulldog", "American Bulldog"),
    ("F-16A/B", "F 16A B"),
    ("Ram C/V Cargo Van Minivan 2012", "Ram C-V Cargo Van Minivan 2012"),
    ("Chuck-will's-widow", "chuck wills widow"),
])
def test_normalised_spellings_agree(foci_name, ours):
    assert options.normalise(foci_name) == options.normalise(ours)


def test_ambiguous_names_are_reported():
    classes = pd.DataFrame({"label": [0, 1], "class_name": ["Boston Bull", "Boston-Bull"], "raw_name": ["a", "b"]})
    with pytest.raises(FgvrError, match=r"toy: f.json: 1 name\(s\) match several: 'boston bull' \(labels \[0, 1\]\)"):
        options.name_labels(["boston bull"], classes, "toy", "f.json")
    assert options.name_labels(["Boston-Bull", "a"], classes, "toy") == {"Boston-Bull": 1, "a": 0}


# ------------------------------------------------------------------------------ the JSONL files

GOOD = {"image_id": "001_0000", "label": 0, "options": [3, 0, 5, 1], "answer": 1}


@pytest.mark.parametrize("change, message", [
    ({"answer": 2}, "answer 2 does not point at label 0"),
    ({"answer": 4}, "answer 4 does not point at label 0"),
    ({"options": [3, 0, 5]}, "want 4 distinct options"),
    ({"options": [3, 0, 3, 1]}, "want 4 distinct options"),
    ({"options": [3, 0, 9, 1]}, r"unknown class\(es\) \[9\]"),
    ({"image_id": "nope"}, "unknown image 'nope'"),
    ({"label": 1, "options": [3, 1, 5, 0]}, "has label 0 in the manifest, not 1"),
    ({"answer": "1"}, "must be integers"),
    ({"extra": 1}, "want the keys image_id, label, options, answer"),
])
def test_read_options_validates(small_dataset, tmp_path, change, message):
    manifest = read_manifest(small_dataset / "manifest.csv")
    classes = read_classes(small_dataset / "classes.csv")
    path = tmp_path / "o.jsonl"
    second = {"image_id": "001_0001", "label": 0, "options": [0, 1, 2, 3], "answer": 0}
    path.write_text(json.dumps(second) + "\n" + json.dumps(GOOD | change) + "\n")
    with pytest.raises(FgvrError, match=f"o.jsonl: line 2.*{message}"):
        options.read_options(path, manifest, classes)
    path.write_text(json.dumps(second) + "\n" + json.dumps(GOOD) + "\n")
    assert options.read_options(path, manifest, classes) == [second, GOOD]


def test_bad_rows_are_never_written_and_a_good_file_survives(tmp_path):
    path = tmp_path / "options" / "vlm" / "test.jsonl"
    options.write_options(path, [GOOD])
    before = path.read_bytes()
    with pytest.raises(FgvrError, match="line 2: image '001_0000' is listed twice"):
        options.write_options(path, [GOOD, GOOD])
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["test.jsonl"]


# ------------------------------------------------------------------------------ the six official files


def foci_spelled(name: str, classes: pd.DataFrame) -> dict[str, int]:
    """FOCI's spelling of each class -> label, from the loaders' own raw-name parsers (not options.normalise)."""
    from fgvr.datasets import cub200, dogs120

    spell = {"cub200": lambda c: cub200.species(c["raw_name"]), "dogs120": lambda c: dogs120.breed(c["raw_name"]),
             "pets37": lambda c: c["class_name"]}.get(name, lambda c: c["raw_name"])
    return {spell(row): int(row["label"]) for _, row in classes.iterrows()}


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs_foci(n)) for n in NAMES])
def test_importing_the_official_files_reproduces_them(full, name, tmp_path):
    manifest, classes = full(name)
    label = foci_spelled(name, classes)
    path = options.foci_file(name, FOCI_DIR)
    assert path.name == FOCI_FILES[name]
    rows = options.import_foci(path, manifest, classes, 0, name)
    test = manifest[manifest["split"] == "test"]
    tails = {}  # trailing path components (1 or 2, as FOCI's paths have) -> image ids
    for path, image_id in zip(test["path"], test["image_id"]):
        for depth in (1, 2):
            tails.setdefault("/".join(Path(path).parts[-depth:]), []).append(image_id)
    row_of = {r["image_id"]: r for r in rows}
    entries = [e for es in foci(name).values() for e in es]
    seen = set()
    for e in entries:
        image = e["image"].removeprefix("images/")
        if image in seen:  # the Dog-120 duplicate: same options, read once
            continue
        seen.add(image)
        ids = tails.get(image, [])
        assert len(ids) == 1, image
        row = row_of[ids[0]]
        assert set(row["options"]) == {label[o] for o in e["options"]}, image
        assert row["options"][row["answer"]] == label[e["groundtruth"]] == row["label"], image
    assert len(rows) == len(seen) == len(foci_images(foci(name)))
    assert [r["image_id"] for r in rows] == [i for i in test["image_id"] if i in row_of]  # manifest order
    if name == "dogs120":
        assert len(entries) == 8580 and len(rows) == 8579
        missing = set(test["image_id"]) - set(row_of)
        assert [test.set_index("image_id").loc[i, "path"].endswith(DOG_EXTRA.split("/")[-1]) for i in missing] == [True]
    else:
        assert len(rows) == len(test)
    counts = Counter(r["answer"] for r in rows)
    assert all(abs(v - len(rows) / 4) < 0.1 * len(rows) / 4 for v in counts.values()), counts
    options.write_options(tmp_path / "test.jsonl", rows)
    assert options.read_options(tmp_path / "test.jsonl", manifest, classes) == rows


def test_an_option_seed_rearranges_the_same_options_letter_balanced():
    """options.rearrange: the same four options (and names) per row, the answer still pointing
    at the label, each letter the answer of a quarter of the rows; the answer positions are those
    of options.arrangement for that seed."""
    from fgvr.options import arrangement, rearrange

    rows = [{"image_id": str(i), "label": i % 7, "options": [i % 7, 7 + i % 3, 10 + i % 5, 15],
             "answer": 0, "names": ["t", "x", "y", "z"]} for i in range(40)]
    for i, row in enumerate(rows):  # scatter the answer as a file would
        j = i % 4
        row["options"][0], row["options"][j] = row["options"][j], row["options"][0]
        row["names"][0], row["names"][j] = row["names"][j], row["names"][0]
        row["answer"] = j
    again = rearrange(rows, 3, "d", "test")
    assert [sorted(r["options"]) for r in again] == [sorted(r["options"]) for r in rows]
    assert all(r["options"][r["answer"]] == r["label"] and r["names"][r["answer"]] == "t" for r in again)
    assert sorted(np.bincount([r["answer"] for r in again]).tolist()) == [10, 10, 10, 10]
    assert [r["answer"] for r in again] == np.argmax(arrangement(40, 3, "d", "test") == 0, axis=1).tolist()
    assert rearrange(rows, 3, "d", "test") == again and rearrange(rows, 4, "d", "test") != again
