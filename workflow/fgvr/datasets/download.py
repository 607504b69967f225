"""Download one official file over HTTP(S) with the standard library only.

A transfer goes to ``{dest}.part``; a cut connection is retried with an HTTP ``Range`` request
that continues where the part file ends, and a part file left by a failed run is resumed the
same way by the next run. Each location (the configured ``url``, then each mirror) gets
``retries`` retries before the next one is tried. The finished file is checked against the
checksum its loader pins (``md5:...`` or ``sha256:...``); where no established loader publishes
one, the sha256 of the first download is recorded (``record``) and later downloads must match
it. A file that fails its checksum is deleted (its bytes cannot be trusted to resume from);
only a verified file is renamed to ``dest``.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..io import FgvrError, atomic_path

log = logging.getLogger("fgvr.download")
CHUNK = 1 << 20
USER_AGENT = "fgvr-workflow (urllib)"
# HTTP statuses worth retrying at the same location; any other HTTP error moves to the next one
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Remote:
    """One official file: its name, where it can be fetched, and the checksum it must have."""
    file: str
    urls: tuple[str, ...]
    checksum: str | None = None   # "md5:<hex>" or "sha256:<hex>"; None: trust the first download
    size: int | None = None       # bytes, when known (only used for messages)

    def as_params(self) -> dict:
        """JSON-serialisable form (Snakemake params; the between-workflow cache hashes them)."""
        return {"file": self.file, "urls": list(self.urls), "checksum": self.checksum, "size": self.size}


def location(template: str, file: str) -> str:
    """``{file}`` in ``template`` is replaced by the file name; without it the name is appended."""
    if "{file}" in template:
        return template.replace("{file}", file)
    return template.rstrip("/") + "/" + file


class _Incomplete(OSError):
    """The server closed the connection before the announced length arrived."""


def file_digest(path: str | Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, value = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not value:
        raise FgvrError(f"checksum {checksum!r}: expected 'md5:<hex>' or 'sha256:<hex>'")
    return algorithm, value.lower()


def fetch(remote: Remote, dest: str | Path, record: str | Path | None = None, retries: int = 3,
          timeout: float = 60.0, backoff: float = 2.0, progress: bool = True) -> Path:
    """Download ``remote`` to ``dest`` (resuming ``dest.part``), verify it, return ``dest``."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = remote.checksum
    if expected is None and record is not None and Path(record).exists():
        expected = "sha256:" + Path(record).read_text().split()[0]
    if not remote.urls:
        raise FgvrError(f"{remote.file}: no URL to download it from (set `url` or `mirrors`, or give `archive`/`root`)")
    errors: dict[str, str] = {}  # url -> its last error
    done_from = None
    for url in remote.urls:
        for attempt in range(retries + 1):
            try:
                _transfer(url, part, remote.file, timeout, progress)
                done_from = url
                break
            except urllib.error.HTTPError as err:
                errors[url] = f"HTTP {err.code} {err.reason}"
                if err.code not in RETRY_STATUS:
                    log.warning("%s: %s answered %s", remote.file, url, errors[url])
                    break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                errors[url] = str(getattr(err, "reason", err))
            log.warning("%s: attempt %d at %s failed (%s)", remote.file, attempt + 1, url, errors[url])
            if attempt < retries:
                time.sleep(backoff * 2 ** attempt)
        if done_from:
            break
    if done_from is None:
        kept = (f"; the {part.stat().st_size} bytes received are kept in {part} and the next run resumes them"
                if part.exists() and part.stat().st_size else "")
        raise FgvrError(f"{dest}: download of {remote.file} failed from every location "
                        f"({'; '.join(f'{u}: {e}' for u, e in errors.items())}){kept}")
    _verify(remote, part, dest, expected, record, done_from)
    os.replace(part, dest)
    log.info("%s: downloaded from %s (%d bytes)", dest, done_from, dest.stat().st_size)
    return dest


def _transfer(url: str, part: Path, name: str, timeout: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is complete (the checksum decides)
            log.info("%s: server has no bytes past %d; checking what we have", name, have)
            return
        raise
    with response:
        if response.status == 206 and _range_start(response) != have:
            part.unlink(missing_ok=True)  # an answer we did not ask for: start over on the next try
            raise _Incomplete(f"asked for bytes from {have}, got {response.headers.get('Content-Range')!r}")
        if have and response.status == 206:
            mode = "ab"
            log.info("%s: resuming at byte %d from %s", name, have, url)
        else:
            if have:
                log.info("%s: %s ignored the range request; starting over", name, url)
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        received = have
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                                           desc=name, disable=not progress, mininterval=1) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise _Incomplete(f"connection closed after {received} of {total} bytes")


def _range_start(response) -> int | None:
    value = response.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _verify(remote: Remote, part: Path, dest: Path, expected: str | None, record, url: str) -> None:
    if expected is None:
        digest = file_digest(part, "sha256")
        if record is not None:
            with atomic_path(record) as tmp:
                tmp.write_text(f"{digest}  {remote.file}\n")
            log.warning("%s: no published checksum; recorded sha256 %s in %s, later downloads must match it",
                        remote.file, digest, record)
        return
    algorithm, want = parse_checksum(expected)
    got = file_digest(part, algorithm)
    if got != want:
        part.unlink()
        source = "recorded at the first download in " + str(record) if remote.checksum is None else "pinned"
        raise FgvrError(f"{dest}: {algorithm} checksum mismatch for {remote.file} from {url}: expected {want} "
                        f"({source}), got {got}; the file was deleted")
