"""Snapshot a Hugging Face Hub checkpoint into a folder and record the commit it resolved to.

huggingface_hub does the transfer, so HF_HOME, HF_TOKEN and offline mode (HF_HUB_OFFLINE=1:
served from the local cache, no network) are respected. The folder gets ``fgvr_source.json``
({hf_id, revision, commit}); extraction copies the commit into every HDF5 file it writes.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..io import FgvrError

SOURCE = "fgvr_source.json"
log = logging.getLogger("fgvr.fetch")


def fetch(hf_id: str, revision: str, out: str | Path) -> dict:
    """Online: resolve ``revision`` to a commit and download that commit into ``out``.
    Offline (HF_HUB_OFFLINE=1): copy the snapshot from the local cache (HF_HOME).

    Files land in ``<out>.download`` first, which survives a failure so that the next run
    resumes the transfer (huggingface_hub keeps its resume state there); it becomes ``out``
    only when complete."""
    import shutil

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    out = Path(out)
    staging = out.with_name(out.name + ".download")
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        if offline:
            # the cache keeps a snapshot under snapshots/<commit>: its folder name is the commit
            cached = Path(snapshot_download(hf_id, revision=revision, local_files_only=True))
            commit = cached.name
            shutil.copytree(cached, staging, symlinks=False, dirs_exist_ok=True)  # copy content, not links
        else:
            commit = HfApi().model_info(hf_id, revision=revision).sha
            snapshot_download(hf_id, revision=commit, local_dir=staging)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        hint = " (HF_HUB_OFFLINE is set and the local cache lacks it)" if offline else ""
        raise FgvrError(f"models: cannot fetch {hf_id}@{revision}{hint}: {err}; "
                        f"what arrived stays in {staging} for the next run") from err
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    source = {"hf_id": hf_id, "revision": revision, "commit": commit}
    (staging / SOURCE).write_text(json.dumps(source, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    log.info("fetched %s@%s (commit %s) into %s", hf_id, revision, commit, out)
    return source


def recorded_commit(path: str | Path) -> str:
    """The commit a fetched checkpoint came from, or '' for other folders."""
    source = Path(path) / SOURCE
    return json.loads(source.read_text())["commit"] if source.exists() else ""
