"""Safe extraction: nothing lands outside the target whatever the archive holds, a broken
archive is named, and a failed extraction leaves nothing that looks finished."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from fgvr.datasets import archive
from fgvr.io import FgvrError


def make_tar(path, members):
    """members: (name, kind, payload) with kind file / dir / symlink / hardlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return path


GOOD = [("data", "dir", None), ("data/a.txt", "file", b"a")]


@pytest.mark.parametrize("member, why", [
    (("../escaped.txt", "file", b"x"), "it would be written outside"),
    (("data/../../escaped.txt", "file", b"x"), "it would be written outside"),
    (("/escaped-fgvr-test.txt", "file", b"x"), "absolute path"),
    (("data/link", "symlink", "../../escaped.txt"), "symbolic link to '../../escaped.txt' points outside"),
    (("data/abs", "symlink", "/etc/passwd"), "symbolic link to the absolute path '/etc/passwd'"),
    (("data/hard", "hardlink", "../../escaped.txt"), "hard link to '../../escaped.txt' points outside"),
    (("data/pipe", "fifo", None), "device, FIFO or other special file"),
])
def test_malicious_member_is_refused_naming_archive_and_member(tmp_path, member, why):
    bad = make_tar(tmp_path / "evil.tar.gz", [*GOOD, member])
    target = tmp_path / "work" / "datasets" / "evil"
    with pytest.raises(FgvrError) as err:
        archive.materialize([bad], target, progress=False)
    assert f"evil.tar.gz: refusing member {member[0]!r}" in str(err.value) and why in str(err.value)
    assert not target.exists() and not target.with_name("evil.partial").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "work" / "escaped.txt").exists()
    assert not os.path.exists("/escaped-fgvr-test.txt")


def test_symlink_then_file_through_it_cannot_escape(tmp_path):
    """A link inside that points out, then a member written 'through' it: refused at the link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    bad = make_tar(tmp_path / "evil.tar.gz", [("d", "symlink", str(outside)), ("d/x.txt", "file", b"x")])
    with pytest.raises(FgvrError, match="refusing member 'd'"):
        archive.materialize([bad], tmp_path / "t", progress=False)
    assert list(outside.iterdir()) == []


def test_links_inside_the_target_are_fine(tmp_path):
    ok = make_tar(tmp_path / "ok.tar.gz", [*GOOD, ("data/s", "symlink", "a.txt"), ("data/h", "hardlink", "data/a.txt")])
    target = archive.materialize([ok], tmp_path / "t", progress=False)
    assert (target / "data" / "s").read_bytes() == b"a" and (target / "data" / "h").read_bytes() == b"a"


def test_corrupt_and_truncated_archives_are_named(tmp_path):
    good = make_tar(tmp_path / "good.tar.gz", [*GOOD, ("data/big.bin", "file", bytes(range(256)) * 4000)])
    data = good.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.tgz").write_bytes(b"not an archive at all" * 10)
    for name in ("cut.tar.gz", "junk.tgz"):
        with pytest.raises(FgvrError, match=rf"{name}: truncated or corrupt archive"):
            archive.materialize([tmp_path / name], tmp_path / "t", progress=False)
        assert not (tmp_path / "t").exists() and not (tmp_path / "t.partial").exists()


def test_marker_reuse_and_refresh(tmp_path):
    one = make_tar(tmp_path / "one.tar.gz", GOOD)
    target = archive.materialize([one], tmp_path / "t", progress=False)
    assert archive.is_complete(target, [one])
    (target / "data" / "a.txt").write_text("changed")  # reused as is: not extracted again
    archive.materialize([one], target, progress=False)
    assert (target / "data" / "a.txt").read_text() == "changed"
    make_tar(one, [*GOOD, ("data/b.txt", "file", b"b")])  # the source changed: extracted anew
    archive.materialize([one], target, progress=False)
    assert (target / "data" / "a.txt").read_text() == "a" and (target / "data" / "b.txt").exists()


def test_a_half_made_target_is_redone(tmp_path):
    one = make_tar(tmp_path / "one.tar.gz", GOOD)
    (tmp_path / "t.partial" / "junk").mkdir(parents=True)  # left by a killed run
    (tmp_path / "t").mkdir()  # no marker: not finished
    target = archive.materialize([one], tmp_path / "t", progress=False)
    assert sorted(p.name for p in target.iterdir()) == [".fgvr-complete.json", "data"]
    assert not (tmp_path / "t.partial").exists()
