import pandas as pd
import pytest

from fgvr.datasets.manifest import read_manifest, write_dataset
from fgvr.io import FgvrError

CLASSES = pd.DataFrame({"label": [0, 1], "class_name": ["Red Bird", "Blue Bird"], "raw_name": ["r", "b"]})


def manifest(**change):
    frame = pd.DataFrame({"image_id": ["a", "b"], "path": ["x.png", "y.png"], "label": [0, 1],
                          "class_name": ["Red Bird", "Blue Bird"], "split": ["train", "test"],
                          "width": [64, 500], "height": [48, 375]})
    for col, values in change.items():
        frame[col] = values
    return frame


def test_writes_the_three_tables(tmp_path):
    write_dataset(tmp_path, manifest(), CLASSES)
    assert read_manifest(tmp_path / "manifest.csv", "test")["image_id"].tolist() == ["b"]
    assert pd.read_csv(tmp_path / "classes.csv").columns.tolist() == ["label", "class_name", "raw_name", "description"]
    assert pd.read_csv(tmp_path / "ground_truth.csv").empty


@pytest.mark.parametrize("change, message", [
    ({"image_id": ["a", "a"]}, "image_id 'a' appears twice"),
    ({"split": ["train", "dev"]}, "unknown split"),
    ({"class_name": ["Red Bird", "Red Bird"]}, "image 'b' has label 1"),
    ({"width": [64, 0]}, "image 'b' has width 0; expected a positive whole number of pixels"),
    ({"height": [48.5, 375]}, "image 'a' has height 48.5"),
    ({"height": [None, 375]}, "image 'a' has height"),
])
def test_inconsistent_tables_fail_and_write_nothing(tmp_path, change, message):
    with pytest.raises(FgvrError, match=message):
        write_dataset(tmp_path, manifest(**change), CLASSES)
    assert not any(tmp_path.iterdir())


def test_missing_split_names_the_file(tmp_path):
    write_dataset(tmp_path, manifest(), CLASSES)
    with pytest.raises(FgvrError, match=r"manifest.csv: no images in split 'val'"):
        read_manifest(tmp_path / "manifest.csv", "val")


def test_sizes_are_read_back_as_ints(tmp_path):
    write_dataset(tmp_path, manifest(), CLASSES)
    frame = read_manifest(tmp_path / "manifest.csv")
    assert frame.columns.tolist() == ["image_id", "path", "label", "class_name", "split", "width", "height"]
    assert frame["width"].dtype == "int64" and frame["height"].dtype == "int64"
    assert frame[["width", "height"]].values.tolist() == [[64, 48], [500, 375]]


def test_manifest_without_sizes_names_the_columns(tmp_path):
    manifest().drop(columns=["width", "height"]).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(FgvrError, match=r"manifest.csv: missing columns \['width', 'height'\].*rerun prepare_dataset"):
        read_manifest(tmp_path / "manifest.csv")


def test_a_bad_size_in_a_written_manifest_names_the_image(tmp_path):
    manifest(width=[64, "wide"]).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(FgvrError, match=r"manifest.csv: image 'b' has width 'wide'"):
        read_manifest(tmp_path / "manifest.csv")
