import pandas as pd
import pytest

from fgvr.datasets.manifest import read_manifest, write_dataset
from fgvr.io import FgvrError

CLASSES = pd.DataFrame({"label": [0, 1], "class_name": ["Red Bird", "Blue Bird"], "raw_name": ["r", "b"]})


def manifest(**change):
    frame = pd.DataFrame({"image_id": ["a", "b"], "path": ["x.png", "y.png"], "label": [0, 1],
                          "class_name": ["Red Bird", "Blue Bird"], "split": ["train", "test"]})
    for col, values in change.items():
        frame[col] = values
    return frame


def test_writes_the_three_tables(tmp_path):
    write_dataset(tmp_path, manifest(), CLASSES)
    assert read_manifest(tmp_path / "manifest.csv", "test")["image_id"].tolist() == ["b"]
    assert pd.read_csv(tmp_path / "classes.csv").columns.tolist() == ["label", "class_name", "raw_name", "description"]
    assert pd.read_csv(tmp_path / "descriptions.csv").empty


@pytest.mark.parametrize("change, message", [
    ({"image_id": ["a", "a"]}, "image_id 'a' appears twice"),
    ({"split": ["train", "dev"]}, "unknown split"),
    ({"class_name": ["Red Bird", "Red Bird"]}, "image 'b' has label 1"),
])
def test_inconsistent_tables_fail_and_write_nothing(tmp_path, change, message):
    with pytest.raises(FgvrError, match=message):
        write_dataset(tmp_path, manifest(**change), CLASSES)
    assert not any(tmp_path.iterdir())


def test_missing_split_names_the_file(tmp_path):
    write_dataset(tmp_path, manifest(), CLASSES)
    with pytest.raises(FgvrError, match=r"manifest.csv: no images in split 'val'"):
        read_manifest(tmp_path / "manifest.csv", "val")
