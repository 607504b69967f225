"""The six official loaders against fixtures in the official formats, generated from the FOCI
option files of the paper's evaluation: splits and counts are the official ones, and every test
image of the official evaluation is in the test split with its ground-truth class."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from official_fixtures import DOG_EXTRA, FOCI_DIR, FOCI_FILES, NAMES, OFFICIAL, foci, foci_images, make, pack

from fgvr import datasets
from fgvr.datasets import cub200, dogs120, foci as foci_lib, official
from fgvr.datasets.manifest import read_classes, read_manifest
from fgvr.io import FgvrError

pytestmark = pytest.mark.skipif(not FOCI_DIR.is_dir(), reason=f"FOCI option files not found in {FOCI_DIR}")

# how the FOCI files spell a class, from our classes.csv row
FOCI_NAME = {
    "cub200": lambda c: cub200.species(c["raw_name"]),
    "cars196": lambda c: c["raw_name"],
    "dogs120": lambda c: dogs120.breed(c["raw_name"]),
    "flowers102": lambda c: c["raw_name"],
    "pets37": lambda c: c["class_name"],  # FOCI uses the clean names here
    "aircraft100": lambda c: c["raw_name"],
}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """name -> (manifest, classes) prepared from `root` holding the full official lists."""
    cache = {}

    def get(name):
        if name not in cache:
            base = tmp_path_factory.mktemp(f"full-{name}")
            root = make(name, base / "official", full=True)
            datasets.prepare(name, {"root": str(root)}, base / "out", resources=base / "resources", progress=False)
            cache[name] = (read_manifest(base / "out" / "manifest.csv"), read_classes(base / "out" / "classes.csv"))
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_official_splits_and_counts(full, name):
    manifest, classes = full(name)
    assert datasets.splits(name, {}) == list(OFFICIAL[name])
    assert manifest["split"].value_counts().to_dict() == OFFICIAL[name]
    assert len(classes) == len(foci(name)) == {"cub200": 200, "cars196": 196, "dogs120": 120, "flowers102": 102,
                                              "pets37": 37, "aircraft100": 100}[name]
    assert manifest["image_id"].is_unique
    assert set(manifest["label"]) == set(classes["label"])  # every class has images
    assert all(os.path.isfile(p) for p in manifest["path"].sample(50, random_state=0))


@pytest.mark.parametrize("name", NAMES)
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


def test_foci_duplicate_is_read_once_with_a_warning(caplog):
    options = foci_lib.read_options(FOCI_DIR / FOCI_FILES["dogs120"])
    assert options["image"].is_unique
    assert "n02085620-Chihuahua/n02085620_1235.jpg is listed twice" in caplog.text


def test_cars_train_and_test_images_share_names_but_not_ids(full):
    manifest, _ = full("cars196")
    train, test = (manifest[manifest["split"] == s] for s in ("train", "test"))
    names = [{os.path.basename(p) for p in split["path"]} for split in (train, test)]
    assert len(names[0] & names[1]) > 8000  # 00001.jpg ... in both folders
    assert train["image_id"].str.startswith("train_").all() and test["image_id"].str.startswith("test_").all()
    assert train["path"].str.contains("/cars_train/").all() and test["path"].str.contains("/cars_test/").all()
    # test labels come from cars_test_annos_withlabels.mat: the FOCI ground truth of test image 00001
    first = foci_images(foci("cars196"))["00001.jpg"]
    assert test.set_index("image_id").loc["test_00001", "class_name"] == first


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


@pytest.mark.parametrize("name", NAMES)
def test_class_names_are_clean_and_raw_names_kept(full, name):
    _, classes = full(name)
    assert classes["class_name"].is_unique
    assert not classes["class_name"].str.contains("_").any()
    assert not classes["class_name"].str.match(r"^\d{3}\.|^n\d{8}").any()
    assert classes["raw_name"].is_unique


def test_flower_names_ship_with_the_code():
    from fgvr.datasets import flowers102

    assert flowers102.NAMES == list(foci("flowers102"))  # the standard order: class 1 first
    assert len(flowers102.NAMES) == 102


# ------------------------------------------------------------------------------ archive mode

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """name -> (root, archive folder, manifest from root) for a 3-class fixture."""
    cache = {}

    def get(name):
        if name not in cache:
            base = tmp_path_factory.mktemp(f"small-{name}")
            root = make(name, base / "official")
            files = pack(name, root, base / "archive")
            datasets.prepare(name, {"root": str(root)}, base / "out", resources=base / "unused", progress=False)
            cache[name] = (root, base / "archive", files, read_manifest(base / "out" / "manifest.csv"))
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_archive_gives_the_same_data_set_as_root(small, name, tmp_path, monkeypatch):
    root, archive, files, from_root = small(name)
    assert files == sorted(datasets.get_loader(name, {}).FILES)  # the official file names
    monkeypatch.chdir(tmp_path)
    datasets.prepare(name, {"archive": str(archive)}, "out", progress=False)
    manifest = read_manifest("out/manifest.csv")
    cols = ["image_id", "label", "class_name", "split"]
    pd.testing.assert_frame_equal(manifest[cols], from_root[cols])
    # paths are relative to the working directory, inside the extraction; nothing copied from root
    assert manifest["path"].str.startswith(f"resources/datasets/{name}/").all()
    assert all(os.path.isfile(p) for p in manifest["path"])
    rel = [os.path.relpath(p, root) for p in from_root["path"]]
    extracted = official.extracted_dir(name) / datasets.get_loader(name, {}).EXTRACTED
    assert [os.path.relpath(p, extracted) for p in manifest["path"]] == rel
    assert not (tmp_path / "resources" / "downloads").exists()  # no download without being asked


def test_extraction_happens_once(small, tmp_path, monkeypatch):
    _, archive, _, _ = small("pets37")
    monkeypatch.chdir(tmp_path)
    datasets.prepare("pets37", {"archive": str(archive)}, "out", progress=False)
    marker = tmp_path / "resources/datasets/pets37/.fgvr-complete.json"
    before = marker.stat().st_mtime_ns
    datasets.prepare("pets37", {"archive": str(archive)}, "out2", progress=False)
    assert marker.stat().st_mtime_ns == before


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
    _, archive, files, _ = small(name)
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (archive / files[0]).read_bytes()
    (broken / files[0]).write_bytes(data[: len(data) // 2])
    with pytest.raises(FgvrError, match=rf"{files[0]}: truncated or corrupt archive"):
        datasets.prepare(name, {"archive": str(broken)}, tmp_path / "out", resources=tmp_path / "res", progress=False)
    assert not (tmp_path / "res" / "datasets" / name).exists()
    assert not (tmp_path / "res" / "datasets" / f"{name}.partial").exists()
    assert not (tmp_path / "out").exists()
