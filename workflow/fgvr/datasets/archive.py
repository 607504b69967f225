"""Safe extraction of official archives into ``resources/datasets/{dataset}/``.

Every member is checked before it is written: an absolute name, a ``..`` that climbs out, a
symbolic or hard link whose target lies outside the folder, or a device/FIFO member stops the
extraction with an error naming the archive and the member. Extraction goes into a temporary
sibling folder that replaces the target only when every archive is in and a completion marker
(the list of sources with their sizes and times) is written, so a killed or failed run leaves
nothing that looks finished, and a second run with the same sources does nothing.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from ..io import FgvrError

log = logging.getLogger("fgvr.archive")
MARKER = ".fgvr-complete.json"
_FilterError = getattr(tarfile, "FilterError", ())  # Python >= 3.11.4
TAR_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_archive(path: str | Path) -> bool:
    return str(path).lower().endswith(TAR_SUFFIXES)


def _fingerprint(sources: list[Path]) -> list[dict]:
    out = []
    for src in sources:
        st = src.stat()
        out.append({"name": src.name, "path": str(src.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def is_complete(target: str | Path, sources: list[Path] | None = None) -> bool:
    marker = Path(target) / MARKER
    if not marker.is_file():
        return False
    if sources is None:
        return True
    try:
        return json.loads(marker.read_text())["sources"] == _fingerprint(sources)
    except (ValueError, KeyError):
        return False


def materialize(sources: list[str | Path], target: str | Path, progress: bool = True) -> Path:
    """Extract the archives in ``sources`` (and copy its plain files) into ``target``, once.

    Returns ``target``. Reuses it when its marker lists the same sources; otherwise builds it
    anew in ``{target}.partial`` and swaps it in.
    """
    sources = [Path(s) for s in sources]
    target = Path(target)
    for src in sources:
        if not src.is_file():
            raise FgvrError(f"{src}: missing")
    if is_complete(target, sources):
        log.info("%s: already extracted from %s", target, ", ".join(s.name for s in sources))
        return target
    tmp = target.with_name(target.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for src in sources:
            if is_archive(src):
                extract(src, tmp, progress=progress)
            else:
                shutil.copy2(src, tmp / src.name)
        (tmp / MARKER).write_text(json.dumps({"sources": _fingerprint(sources)}, indent=1) + "\n")
        if target.exists():
            log.info("%s: sources changed; replacing the old extraction", target)
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def check_member(archive: Path, member: tarfile.TarInfo, dest: str) -> None:
    """Raise FgvrError unless ``member`` lands, and points, inside ``dest`` (an absolute real path)."""
    name = member.name
    what = f"{archive}: refusing member {name!r}"
    drive = len(name) > 1 and name[0].isalpha() and name[1] == ":" and name[2:3] in ("", "/", "\\")
    if PurePosixPath(name).is_absolute() or name.startswith(("/", "\\")) or drive:
        raise FgvrError(f"{what}: absolute path")
    path = os.path.realpath(os.path.join(dest, name))
    if not _inside(dest, path):
        raise FgvrError(f"{what}: it would be written outside {dest}")
    if member.issym():
        link = member.linkname
        if os.path.isabs(link):
            raise FgvrError(f"{what}: symbolic link to the absolute path {link!r}")
        resolved = os.path.realpath(os.path.join(os.path.dirname(path), link))
        if not _inside(dest, resolved):
            raise FgvrError(f"{what}: symbolic link to {link!r} points outside {dest}")
    elif member.islnk():
        link = member.linkname
        resolved = os.path.realpath(os.path.join(dest, link))
        if os.path.isabs(link) or not _inside(dest, resolved):
            raise FgvrError(f"{what}: hard link to {link!r} points outside {dest}")
    elif not (member.isfile() or member.isdir()):
        raise FgvrError(f"{what}: device, FIFO or other special file")


def extract(archive: str | Path, dest: str | Path, progress: bool = True) -> int:
    """Extract the tar ``archive`` into the existing folder ``dest``, member by member, checked.

    Returns the number of members. A truncated or corrupt archive raises FgvrError naming it.
    """
    from tqdm.auto import tqdm

    archive, dest = Path(archive), Path(dest)
    real = os.path.realpath(dest)
    count = 0
    try:
        with tarfile.open(archive, "r:*") as tar, tqdm(desc=f"extract {archive.name}", unit=" files",
                                                       disable=not progress, mininterval=1) as bar:
            for member in tar:
                check_member(archive, member, real)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: also drops modes like setuid
                    tar.extract(member, real, set_attrs=member.isfile(), filter="data")
                else:  # pragma: no cover
                    tar.extract(member, real, set_attrs=member.isfile())
                count += 1
                bar.update()
    except FgvrError:
        raise
    except _FilterError as err:  # a case check_member missed: still refuse, naming the member
        raise FgvrError(f"{archive}: refusing member {err.tarinfo.name!r}: {err}") from err
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise FgvrError(f"{archive}: truncated or corrupt archive ({type(err).__name__}: {err})") from err
    if count == 0:
        raise FgvrError(f"{archive}: the archive is empty")
    log.info("%s: extracted %d members into %s", archive, count, dest)
    return count
