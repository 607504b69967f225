"""Downloads over a loopback HTTP server (127.0.0.1): resume of a cut transfer with a Range
request, retries, mirrors, checksums pinned or recorded at the first download."""
from __future__ import annotations

import hashlib

import pytest
from loopback import Loopback

from fgvr import datasets
from fgvr.datasets import aircraft100, cars196, cub200, dogs120, flowers102, pets37
from fgvr.datasets.download import Remote, fetch, location
from fgvr.io import FgvrError

PAYLOAD = bytes(range(256)) * 400  # 100 KiB, several read chunks
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with Loopback() as srv:
        srv.files["files/a.bin"] = PAYLOAD
        yield srv


def remote(server, checksum=MD5, file="a.bin"):
    return Remote(file, (location(f"{server.url}/files/{{file}}", file),), checksum)


def test_cut_transfer_resumes_on_the_next_run_with_a_range_request(server, tmp_path):
    dest = tmp_path / "a.bin"
    server.cut.add("files/a.bin")
    with pytest.raises(FgvrError, match=r"a.bin failed from every location .* kept in .*a.bin.part and the next "
                                        r"run resumes them"):
        fetch(remote(server), dest, retries=0, backoff=0, progress=False)
    part = tmp_path / "a.bin.part"
    assert part.stat().st_size == len(PAYLOAD) // 2 and not dest.exists()
    fetch(remote(server), dest, retries=0, backoff=0, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert server.requests == [("files/a.bin", None), ("files/a.bin", f"bytes={len(PAYLOAD) // 2}-")]


def test_retry_within_one_run_resumes(server, tmp_path):
    server.cut.add("files/a.bin")
    fetch(remote(server), tmp_path / "a.bin", retries=1, backoff=0, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_wrong_checksum_deletes_the_file(server, tmp_path):
    wrong = "sha256:" + "0" * 64
    expected = (r"a.bin: sha256 checksum mismatch for a.bin from http://127.0.0.1:\d+/files/a.bin: "
                r"expected 0{64} \(pinned\), got " + hashlib.sha256(PAYLOAD).hexdigest())
    with pytest.raises(FgvrError, match=expected):
        fetch(remote(server, wrong), tmp_path / "a.bin", retries=0, backoff=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_first_download_records_its_sha256_and_later_ones_must_match(server, tmp_path):
    record = tmp_path / "checksums" / "a.bin.sha256"
    fetch(remote(server, None), tmp_path / "one" / "a.bin", record=record, retries=0, progress=False)
    assert record.read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    server.files["files/a.bin"] = PAYLOAD[::-1]  # the host now serves other bytes
    with pytest.raises(FgvrError, match=r"checksum mismatch .* \(recorded at the first download in .*a.bin.sha256\)"):
        fetch(remote(server, None), tmp_path / "two" / "a.bin", record=record, retries=0, progress=False)
    assert not (tmp_path / "two" / "a.bin").exists()


def test_mirrors_are_tried_after_a_failing_url(server, tmp_path):
    r = Remote("a.bin", (f"{server.url}/gone/a.bin", f"{server.url}/files/a.bin"), MD5)
    fetch(r, tmp_path / "a.bin", retries=2, backoff=0, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["gone/a.bin", "files/a.bin"]  # a 404 is not retried


def test_unreachable_host_is_a_clear_error(tmp_path):
    r = Remote("a.bin", ("http://127.0.0.1:9/a.bin",), MD5)  # discard port: refused
    with pytest.raises(FgvrError, match=r"download of a.bin failed from every location \(http://127.0.0.1:9/a.bin: "):
        fetch(r, tmp_path / "a.bin", retries=1, backoff=0, progress=False)


def test_pinned_checksums_and_official_names():
    assert list(cub200.SPEC.files) == ["CUB_200_2011.tgz"]
    assert sorted(cars196.SPEC.files) == ["car_devkit.tgz", "cars_test.tgz", "cars_test_annos_withlabels.mat",
                                          "cars_train.tgz"]
    assert list(dogs120.SPEC.files) == ["images.tar", "lists.tar"]
    assert list(flowers102.SPEC.files) == ["102flowers.tgz", "imagelabels.mat", "setid.mat"]
    assert list(pets37.SPEC.files) == ["images.tar.gz", "annotations.tar.gz"]
    assert aircraft100.SPEC.files == {"fgvc-aircraft-2013b.tar.gz": None}  # none published: recorded at first download
    pinned = {f: c for m in (cub200, cars196, dogs120, flowers102, pets37) for f, c in m.SPEC.files.items()}
    assert all(c.startswith(("md5:", "sha256:")) for c in pinned.values())
    assert pinned["CUB_200_2011.tgz"] == "md5:97eceeb196236b17998738112f37df78"
    assert pinned["102flowers.tgz"] == "md5:52808999861908f626f3c1f4e79d11fa"


def test_downloads_only_without_archive_or_root():
    assert datasets.downloads("cub200", {}) == ["CUB_200_2011.tgz"]
    assert datasets.downloads("cub200", {"archive": "/x"}) == []
    assert datasets.downloads("birds", {"loader": "cub200", "root": "/x"}) == []
    assert datasets.downloads("synthetic", {"classes": 3}) == []
    assert datasets.downloads("mine", {"loader": "folder", "root": "/x"}) == []
    with pytest.raises(FgvrError, match="nothing to download"):
        datasets.remote("pets37", {"archive": "/x"}, "images.tar.gz")
    r = datasets.remote("pets37", {"url": "http://m/{file}", "mirrors": ["http://n/"]}, "images.tar.gz")
    assert r.urls == ("http://m/images.tar.gz", "http://n/images.tar.gz")
    assert datasets.remote("cub200", {}, "CUB_200_2011.tgz").urls == (
        "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",)
