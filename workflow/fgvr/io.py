"""Small I/O helpers shared by all stages: atomic writes, JSON, logging to a rule's log file."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path


class FgvrError(RuntimeError):
    """An error the user can act on: the message names the file, key or image at fault."""


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".partial"):
    """Yield a temporary sibling of ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + suffix)
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    if tmp.is_dir() and path.is_dir():  # a folder output made again: the old one goes only now
        import shutil

        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(tmp, path)


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def read_jsonl(path: str | Path) -> list[dict]:
    """One JSON object per non-empty line; a line that is not one is an error naming file and line."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise FgvrError(f"{path}: line {n} is not JSON ({err})") from err
    return rows


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame atomically, without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send logging (and warnings) to stderr and ``log_path``; quiet noisy libraries."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    for noisy in ("transformers", "matplotlib", "PIL", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import transformers
        transformers.logging.set_verbosity_error()
    return logging.getLogger("fgvr")


def run_script(main, smk) -> None:
    """Run a rule's script body: stderr (progress bars, warnings) and logging go to the rule's
    log file; an FgvrError ends the job with its message as the last line of the log."""
    log_path = smk.log[0] if len(smk.log) else None
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(log_path, "a", buffering=1)
    log = setup_logging(None)
    try:
        main(smk)
    except FgvrError as err:
        log.error("%s", err)
        sys.exit(1)
