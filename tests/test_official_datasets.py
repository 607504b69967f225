"""The six official loaders against fixtures in the official formats (tests/official_fixtures.py).

Small fixtures of real classes run everywhere: every loader, the names each image gets from its
official metadata, archives, bad input. Full fixtures built from the FOCI option files of the
paper's evaluation (only where those files are) check the official splits and counts, and that
every test image of the official evaluation is in the test split with its ground-truth class."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from official_fixtures import (DOG_EXTRA, FLOWERS_BY_LABEL, FOCI_DIR, FOCI_FILES, NAMES, OFFICIAL, SAMPLES, foci,
                               foci_images, make, needs_foci, pack)
from PIL import Image
from scipy.io import loadmat

from fgvr import datasets
from fgvr.datasets import cub200, dogs120, foci as foci_lib, official
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError

FULL = [pytest.param(name, marks=needs_foci(name)) for name in NAMES]

# how the FOCI files spell a class, from our classes.csv row
FOCI_NAME = {
    "cub200": lambda c: cub200.species(c["raw_name"]),
    "cars196": lambda c: c["raw_name"],
    "dogs120": lambda c: dogs120.breed(c["raw_name"]),
    "flowers102": lambda c: c["raw_name"],
    "pets37": lambda c: c["class_name"],  # FOCI uses the clean names here
    "aircraft100": lambda c: c["raw_name"],
}


@pytest.mark.parametrize("name", FULL)
def test_official_splits_and_counts(full, name):
    manifest, classes = full(name)
    assert datasets.splits(name, {}) == list(OFFICIAL[name])
    assert manifest["split"].value_counts().to_dict() == OFFICIAL[name]
    assert len(classes) == len(foci(name)) == {"cub200": 200, "cars196": 196, "dogs120": 120, "flowers102": 102,
                                              "pets37": 37, "aircraft100": 100}[name]
    assert manifest["image_id"].is_unique
    assert set(manifest["label"]) == set(classes["label"])  # every class has images
    assert all(os.path.isfile(p) for p in manifest["path"].sample(50, random_state=0))


@pytest.mark.parametrize("name", FULL)
def test_test_split_is_the_official_evaluation(full, name):
    """Every FOCI image is in our test split, with the FOCI ground truth as its class."""
    manifest, classes = full(name)
    options = foci_lib.read_options(FOCI_DIR / FOCI_FILES[name])
    matched = foci_lib.attach(manifest, options)
    spelled = {row["label"]: FOCI_NAME[name](row) for _, row in classes.iterrows()}
    assert [spelled[label] for label in matched["label"]] == matched["groundtruth"].tolist()
    assert matched["image_id"].is_unique  # one test image per FOCI image
    test = manifest[manifest["split"] == "test"]
    unmatched = set(test["image_id"]) - set(matched["image_id"])
    if name == "dogs120":
        # FOCI lists one image twice (8,580 entries, 8,579 images): the official 8,580th is not evaluated
        assert sum(len(v) for v in foci(name).values()) == 8580 and len(options) == 8579
        assert [test.set_index("image_id").loc[i, "path"] for i in unmatched] == [
            str(p) for p in test["path"] if p.endswith(DOG_EXTRA.split("/")[-1])]
    else:
        assert unmatched == set()
        assert len(options) == len(test)


@needs_foci("dogs120")
def test_foci_duplicate_is_read_once_with_a_warning(caplog):
    options = foci_lib.read_options(FOCI_DIR / FOCI_FILES["dogs120"])
    assert options["image"].is_unique
    assert "n02085620-Chihuahua/n02085620_1235.jpg is listed twice" in caplog.text


def test_cars_train_and_test_images_share_names_but_not_ids(small):
    manifest = small("cars196")[3]
    train, test = (manifest[manifest["split"] == s] for s in ("train", "test"))
    names = [{os.path.basename(p) for p in split["path"]} for split in (train, test)]
    assert names[0] & names[1] == {f"{k:05d}.jpg" for k in range(1, 7)}  # 00001.jpg ... in both folders
    assert train["image_id"].str.startswith("train_").all() and test["image_id"].str.startswith("test_").all()
    assert train["path"].str.contains("/cars_train/").all() and test["path"].str.contains("/cars_test/").all()
    # test labels come from cars_test_annos_withlabels.mat, names from cars_meta.mat (sorted there)
    assert test.set_index("image_id").loc["test_00001", "class_name"] == "Suzuki Aerio Sedan 2007"
    assert test.set_index("image_id").loc["test_00003", "label"] == 0  # "AM General Hummer SUV 2000"


@pytest.mark.parametrize("name, raw, clean", [
    ("cub200", "001.Black_footed_Albatross", "Black-footed Albatross"),
    ("cub200", "022.Chuck_will_Widow", "Chuck-will's-widow"),
    ("cub200", "141.Artic_Tern", "Arctic Tern"),
    ("cub200", "178.Swainson_Warbler", "Swainson's Warbler"),
    ("cub200", "165.Chestnut_sided_Warbler", "Chestnut-sided Warbler"),
    ("cub200", "158.Bay_breasted_Warbler", "Bay-breasted Warbler"),
    ("cub200", "187.American_Three_toed_Woodpecker", "American Three-toed Woodpecker"),
    ("dogs120", "n02085782-Japanese_spaniel", "Japanese Spaniel"),
    ("dogs120", "n02089078-black-and-tan_coonhound", "Black-and-tan Coonhound"),
    ("dogs120", "n02113023-Pembroke", "Pembroke Welsh Corgi"),
    ("dogs120", "n02086240-Shih-Tzu", "Shih-Tzu"),
    ("pets37", "american_bulldog", "American Bulldog"),
    ("pets37", "British_Shorthair", "British Shorthair"),
    ("flowers102", "bird of paradise", "Bird of Paradise"),
    ("flowers102", "hard-leaved pocket orchid", "Hard-leaved Pocket Orchid"),
    ("aircraft100", "F-16A/B", "F-16A/B"),
    ("cars196", "AM General Hummer SUV 2000", "AM General Hummer SUV 2000"),
])
def test_clean_class_names(name, raw, clean):
    assert datasets.get_loader(name, {}).clean_name(raw) == clean


@pytest.mark.parametrize("name", FULL)
def test_class_names_are_clean_and_raw_names_kept(full, name):
    _, classes = full(name)
    assert classes["class_name"].is_unique
    assert not classes["class_name"].str.contains("_").any()
    assert not classes["class_name"].str.match(r"^\d{3}\.|^n\d{8}").any()
    assert classes["raw_name"].is_unique


# ------------------------------------------------------------------------------ names

@pytest.mark.parametrize("name", NAMES)
def test_each_image_gets_the_name_its_official_metadata_gives(small, name):
    """The class of every sample test image, as the official files write it (CUB's class folder and
    classes.txt, Cars' cars_meta.mat, Dogs' folder, Pets' file name, Aircraft's variants.txt;
    Flowers' label number, named from the fixture's own label-ordered list)."""
    manifest, classes = small(name)[3:]
    expected = foci_images(SAMPLES[name])
    matched = foci_lib.attach(manifest, pd.DataFrame({"image": list(expected), "groundtruth": list(expected.values())}))
    spelled = {row["label"]: FOCI_NAME[name](row) for _, row in classes.iterrows()}
    assert [spelled[label] for label in matched["label"]] == list(expected.values())
    assert (manifest["split"] == "test").sum() == len(expected)
    assert classes["class_name"].is_unique and not classes["class_name"].str.contains("_").any()


# label -> name, from the label-ordered list every Flowers-102 classifier uses (torchvision, CLIP)
FLOWER_PAIRS = {1: "pink primrose", 2: "hard-leaved pocket orchid", 16: "globe flower", 17: "purple coneflower",
                18: "peruvian lily", 19: "balloon flower", 20: "giant white arum lily", 21: "fire lily",
                22: "pincushion flower", 93: "air plant", 101: "trumpet creeper", 102: "blackberry lily"}


def test_flower_labels_carry_their_names(small):
    from fgvr.datasets import flowers102

    root, _, _, manifest, classes = small("flowers102")
    assert len(classes) == 102 and classes["raw_name"].is_unique
    by_label = classes.set_index("label")
    for label, name in FLOWER_PAIRS.items():
        assert by_label.loc[label - 1, "raw_name"] == name, label
    # each image's class is the name of the number imagelabels.mat gives it (1-based)
    numbers = loadmat(root / "imagelabels.mat", squeeze_me=True)["labels"]
    for _, row in manifest[manifest["split"] == "test"].iterrows():
        label = int(numbers[int(row["image_id"].removeprefix("image_")) - 1])
        assert row["class_name"] == flowers102.clean_name(FLOWER_PAIRS[label]), row["image_id"]
    assert set(manifest.loc[manifest["split"] == "test", "class_name"]) >= {"Purple Coneflower", "Fire Lily"}
    assert FLOWERS_BY_LABEL == classes["raw_name"].tolist()


@needs_foci("flowers102")
def test_flower_names_are_the_foci_names():
    """The FOCI file keys the same 102 names (its key order is not the label order)."""
    from fgvr.datasets import flowers102

    keys = list(foci("flowers102"))
    assert sorted(flowers102.NAMES) == sorted(keys)
    assert keys.index("fire lily") == 16 and flowers102.NAMES.index("fire lily") == 20


@pytest.mark.parametrize("name", NAMES)
def test_manifest_has_each_images_size(small, name):
    manifest = small(name)[3]
    assert manifest["width"].dtype.kind == "i" and manifest["height"].dtype.kind == "i"
    for _, row in manifest.iterrows():
        with Image.open(row["path"]) as im:
            assert (row["width"], row["height"]) == im.size, row["path"]
    assert manifest[["width", "height"]].drop_duplicates().shape[0] > 1  # the fixture's sizes vary


# ------------------------------------------------------------------------------ archive mode

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """name -> (root, archive folder, its files, manifest, classes from root) for the sample fixture."""
    cache = {}

    def get(name):
        if name not in cache:
            base = tmp_path_factory.mktemp(f"small-{name}")
            root = make(name, base / "official")
            files = pack(name, root, base / "archive")
            datasets.prepare(name, {"root": str(root)}, base / "out", resources=base / "unused", progress=False)
            cache[name] = (root, base / "archive", files, read_manifest(base / "out" / "manifest.csv"),
                           read_classes(base / "out" / "classes.csv"))
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_archive_gives_the_same_data_set_as_root(small, name, tmp_path, monkeypatch):
    root, archive, files, from_root, _ = small(name)
    assert files == sorted(datasets.spec(name, {}).files)  # the official file names
    monkeypatch.chdir(tmp_path)
    datasets.prepare(name, {"archive": str(archive)}, "out", progress=False)
    manifest = read_manifest("out/manifest.csv")
    cols = ["image_id", "label", "class_name", "split", "width", "height"]
    pd.testing.assert_frame_equal(manifest[cols], from_root[cols])
    # paths are relative to the working directory, inside the extraction; nothing copied from root
    assert manifest["path"].str.startswith(f"resources/datasets/{name}/").all()
    assert all(os.path.isfile(p) for p in manifest["path"])
    rel = [os.path.relpath(p, root) for p in from_root["path"]]
    extracted = official.extracted_dir(name) / datasets.spec(name, {}).extracted
    assert [os.path.relpath(p, extracted) for p in manifest["path"]] == rel
    assert not (tmp_path / "resources" / "downloads").exists()  # no download without being asked


def test_extraction_happens_once(small, tmp_path, monkeypatch):
    archive = small("pets37")[1]
    monkeypatch.chdir(tmp_path)
    datasets.prepare("pets37", {"archive": str(archive)}, "out", progress=False)
    marker = tmp_path / "resources/datasets/pets37/.fgvr-complete.json"
    before = marker.stat().st_mtime_ns
    datasets.prepare("pets37", {"archive": str(archive)}, "out2", progress=False)
    assert marker.stat().st_mtime_ns == before


@pytest.mark.parametrize("name", NAMES)
def test_declared_metadata_is_what_parse_reads(small, name, tmp_path):
    """The spec's metadata files (the prepare rule's inputs with `root`) are all that parse reads
    besides the images, and it needs each of them."""
    root, _, _, from_root, _ = small(name)
    spec = datasets.spec(name, {})
    copy = shutil.copytree(root, tmp_path / "copy")
    declared = {p.relative_to(copy) for p in official.metadata_files(spec, copy)}
    assert len(declared) == len(spec.metadata) and all((copy / d).is_file() for d in declared)
    for path in [p for p in copy.rglob("*") if p.is_file()]:
        if path.suffix != ".jpg" and path.relative_to(copy) not in declared:
            path.unlink()  # e.g. Dogs' file_list.mat, Cars' unlabelled cars_test_annos.mat
    datasets.prepare(name, {"root": str(copy)}, tmp_path / "out", progress=False)
    cols = ["image_id", "label", "class_name", "split"]
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "out" / "manifest.csv")[cols], from_root[cols])
    assert set(datasets.metadata_inputs(name, {"root": str(copy)})) == {copy / d for d in declared}
    for relative in declared:
        (copy / relative).rename(copy / "moved")
        with pytest.raises(FgvrError, match=rf"{relative.name}: missing metadata file"):
            datasets.prepare(name, {"root": str(copy)}, tmp_path / "out2", progress=False)
        with pytest.raises(FgvrError, match=rf"{relative.name}: missing metadata file \(datasets.{name}.root must be"):
            datasets.metadata_inputs(name, {"root": str(copy)})
        (copy / "moved").rename(copy / relative)


def test_cars_test_labels_may_sit_in_the_devkit(small, tmp_path):
    copy = shutil.copytree(small("cars196")[0], tmp_path / "copy")
    (copy / "cars_test_annos_withlabels.mat").rename(copy / "devkit" / "cars_test_annos_withlabels.mat")
    inputs = datasets.metadata_inputs("cars196", {"root": str(copy)})
    assert inputs[-1] == copy / "devkit" / "cars_test_annos_withlabels.mat"
    datasets.prepare("cars196", {"root": str(copy)}, tmp_path / "out", progress=False)
    assert read_manifest(tmp_path / "out" / "manifest.csv", "test").shape[0] == 6


# ------------------------------------------------------------------------------ bad input

@pytest.fixture
def cub_root(tmp_path):
    return make("cub200", tmp_path / "official")


def test_missing_metadata_file_is_named(cub_root, tmp_path):
    (cub_root / "train_test_split.txt").unlink()
    with pytest.raises(FgvrError, match=r"train_test_split.txt: missing metadata file"):
        datasets.prepare("cub200", {"root": str(cub_root)}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_metadata_line_naming_a_missing_image(cub_root, tmp_path):
    first = (cub_root / "images.txt").read_text().splitlines()[0].split(" ", 1)[1]
    (cub_root / "images" / first).unlink()
    with pytest.raises(FgvrError, match=rf"images.txt line 1 names the image .*{first}, which does not exist"):
        datasets.prepare("cub200", {"root": str(cub_root)}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_unreadable_image_is_named(cub_root, tmp_path):
    second = (cub_root / "images.txt").read_text().splitlines()[1].split(" ", 1)[1]
    (cub_root / "images" / second).write_bytes(b"this is not a jpeg")
    with pytest.raises(FgvrError, match=rf"image .*{second}: cannot be read"):
        datasets.prepare("cub200", {"root": str(cub_root)}, tmp_path / "out", progress=False)


def test_bad_metadata_line_is_named(cub_root, tmp_path):
    path = cub_root / "image_class_labels.txt"
    path.write_text(path.read_text().replace("1 1\n", "1 one\n", 1))
    with pytest.raises(FgvrError, match=r"image_class_labels.txt line 1: 'one' is not an integer"):
        datasets.prepare("cub200", {"root": str(cub_root)}, tmp_path / "out", progress=False)


def test_cars_test_labels_must_come_from_the_labelled_file(tmp_path):
    root = make("cars196", tmp_path / "official")
    (root / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(FgvrError, match=r"cars_test_annos_withlabels.mat: missing metadata file"):
        datasets.prepare("cars196", {"root": str(root)}, tmp_path / "out", progress=False)
    (root / "devkit" / "cars_test_annos.mat").rename(root / "cars_test_annos_withlabels.mat")  # unlabelled
    with pytest.raises(FgvrError, match=r"carry no class labels"):
        datasets.prepare("cars196", {"root": str(root)}, tmp_path / "out", progress=False)


def test_corrupt_mat_file_is_named(tmp_path):
    root = make("flowers102", tmp_path / "official")
    (root / "setid.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(FgvrError, match=r"setid.mat: not a readable .mat file"):
        datasets.prepare("flowers102", {"root": str(root)}, tmp_path / "out", progress=False)


def test_missing_root_and_archive_files_are_named(tmp_path):
    with pytest.raises(FgvrError, match=r"datasets.birds.root: .*nope is not a folder"):
        datasets.prepare("birds", {"loader": "cub200", "root": str(tmp_path / "nope")}, tmp_path / "out")
    (tmp_path / "arch").mkdir()
    with pytest.raises(FgvrError, match=r"arch/images.tar: missing \(datasets.dogs120.archive must be a folder "
                                        r"holding the official files \['images.tar', 'lists.tar'\]\)"):
        datasets.prepare("dogs120", {"archive": str(tmp_path / "arch")}, tmp_path / "out", resources=tmp_path / "r")


@pytest.mark.parametrize("name", ["cub200", "aircraft100"])
def test_truncated_archive_is_refused_and_leaves_nothing(small, name, tmp_path):
    _, archive, files = small(name)[:3]
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (archive / files[0]).read_bytes()
    (broken / files[0]).write_bytes(data[: len(data) // 2])
    with pytest.raises(FgvrError, match=rf"{files[0]}: truncated or corrupt archive"):
        datasets.prepare(name, {"archive": str(broken)}, tmp_path / "out", resources=tmp_path / "res", progress=False)
    assert not (tmp_path / "res" / "datasets" / name).exists()
    assert not (tmp_path / "res" / "datasets" / f"{name}.partial").exists()
    assert not (tmp_path / "out").exists()
