"""Cluster submission on a real SLURM: the embedded demo through `snakemake --profile profiles/slurm`.

tests/cluster/start.sh starts a one-node Slurm 22.05 on this machine (partitions `cpu` and `gpu`,
two device-less GPUs); this module submits the demo to it and checks what the scheduler saw:
every non-local job went through sbatch with the resources the rules ask for, downloads and
fetches stayed on the submit host, the outputs equal a local run's, a job failing under SLURM is
reported with its log paths, and after the fault is removed a rerun submits only what is missing.
A job asking for two GPUs holds both, and fgvr.launch starts accelerate over exactly those.

Opt-in: `.ci/run` sets FGVR_CLUSTER_TEST=1 and runs this module outside the network-cut
namespace of `make test` (the daemons talk over this machine's loopback; apt is its only other
network use). Elsewhere it skips, saying why. By hand, as root:

    FGVR_CLUSTER_TEST=1 .venv/bin/python -m pytest -m cluster tests/test_cluster.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import ROOT

pytestmark = pytest.mark.cluster

CONFIG = ROOT / "config" / "config.yaml"
PROFILE = ROOT / "profiles" / "slurm"
START, STOP = ROOT / "tests/cluster/start.sh", ROOT / "tests/cluster/stop.sh"
# The plugin's default first status check is 40 s after submitting; 2 s keeps the test short.
FAST = ["--slurm-init-seconds-before-status-checks", "2"]
DEMO_TIMEOUT = 900


def _loopback_works() -> bool:
    try:
        with socket.socket() as server, socket.socket() as client:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            client.connect(server.getsockname())
        return True
    except OSError:
        return False


def _unmet() -> list[str]:
    unmet = []
    if os.geteuid() != 0:
        unmet.append("not root (start.sh installs packages and starts slurmctld, slurmd, munged)")
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        unmet.append("no apt-get to install slurm-wlm and munge")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unmet.append("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")
    if not _loopback_works():
        unmet.append("no usable loopback: this looks like the network-cut namespace of `make test`; "
                     ".ci/run runs this test outside it")
    return unmet


@pytest.fixture(scope="module")
def cluster():
    """The running test cluster (started here unless one is running; stopped if started here)."""
    enabled = os.environ.get("FGVR_CLUSTER_TEST") == "1"
    unmet = _unmet()
    if not enabled:
        pytest.skip("cluster test is opt-in: FGVR_CLUSTER_TEST=1 (.ci/run sets it, as root, outside "
                    "`unshare -n`)" + ("; also " + "; ".join(unmet) if unmet else ""))
    if unmet:  # asked for explicitly: a missing prerequisite is a failure, not a silent skip
        pytest.fail("FGVR_CLUSTER_TEST=1 but " + "; ".join(unmet))
    started = time.monotonic()
    result = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    reused = "reusing" in result.stderr
    print(f"cluster {'reused' if reused else 'started'} in {time.monotonic() - started:.0f} s: {result.stderr.strip()}")
    yield
    if not reused:
        subprocess.run(["bash", str(STOP)], check=False)


def snakemake(workdir: Path, *args: str, env: dict | None = None, config: Path = CONFIG) -> subprocess.CompletedProcess:
    """`snakemake --profile profiles/slurm` on the repo's Snakefile in `workdir`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--profile", str(PROFILE), *FAST]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=DEMO_TIMEOUT,
                          env=dict(os.environ, **(env or {})))


def records(workdir: Path) -> list[dict]:
    """The scheduler's own record of every job submitted from `workdir` (squeue lists finished
    jobs for MinJobAge, an hour on the test cluster): rule, wildcards, partition, state, GPUs."""
    fields = ["JobID", "Comment", "Partition", "State", "tres-per-job", "TimeLimit", "MinMemory", "WorkDir"]
    out = subprocess.run(["squeue", "--states=all", "-h", "-O", ",".join(f"{f}:|" for f in fields)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        job, comment, partition, state, gpus, limit, mem, wd = line.split("|")[:8]
        if Path(wd.strip()) != workdir.resolve():
            continue
        rule, _, wildcards = comment.strip().removeprefix("rule_").partition("_wildcards_")
        rows.append(dict(job=int(job), rule=rule, wildcards=wildcards, partition=partition.strip(),
                         state=state.strip(), gpus=gpus.strip(), limit=limit.strip(), mem=mem.strip()))
    return sorted(rows, key=lambda r: r["job"])


def counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> count from the first 'Job stats' table snakemake prints."""
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-4000:]
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def h5_arrays(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def assert_same_results(local: Path, remote: Path) -> None:
    """Every embedding file and probe/alignment JSON of the local run has the same HDF5 arrays
    and the same JSON in the other run."""
    h5 = sorted(p.relative_to(local) for p in local.glob("results/embeddings/**/*.h5"))
    js = sorted(p.relative_to(local) for p in local.glob("results/analysis/**/*.json"))
    assert h5 and js
    for rel in h5:
        a, b = h5_arrays(local / rel), h5_arrays(remote / rel)
        assert a.keys() == b.keys(), rel
        for key in a:
            assert np.array_equal(a[key], b[key]), f"{rel}:{key} differs between the local and the SLURM run"
    for rel in js:
        assert json.loads((local / rel).read_text()) == json.loads((remote / rel).read_text()), rel


def compared_targets() -> list[str]:
    """What the local run makes to compare: probe and alignment (and so the embeddings) of every
    analysed model that is not fine-tuned (fine-tuning is not bitwise reproducible across
    thread counts, and the local run stays short)."""
    cfg = yaml.safe_load(CONFIG.read_text())
    analysis = cfg.get("analysis", {})
    models = [m for m in analysis.get("mllm", []) + analysis.get("vlm", []) if "finetune" not in cfg["models"][m]]
    datasets = analysis.get("datasets") or list(cfg["datasets"])
    return [f"results/analysis/{d}/{m}/{what}.json" for d in datasets for m in models for what in ("probe", "alignment")]


def submitted_resources(output: str) -> dict[int, tuple[str, dict[str, str]]]:
    """SLURM job id -> (rule, resources) from the submitting snakemake's log: what each job asked."""
    asked, jobs, rule, jobid = {}, {}, None, None
    for line in output.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = m[1]
        elif m := re.match(r"^\s+jobid: (\d+)$", line):
            jobid = int(m[1])
        elif m := re.match(r"^\s+resources: (.*)$", line):
            asked[jobid] = (rule, dict(kv.split("=", 1) for kv in m[1].split(", ")))
        elif m := re.match(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", line):
            jobs[int(m[2])] = asked[int(m[1])]
    return jobs


def megabytes(squeue_memory: str) -> float:
    """squeue's MIN_MEMORY ('8000M', '62.50G') in MB."""
    value, unit = float(squeue_memory[:-1]), squeue_memory[-1]
    return value * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}[unit]


def slurm_time(minutes: int) -> str:
    """A time limit as squeue prints it."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours}:{mins:02d}:00" if hours else f"{mins}:00"


class Demo:
    """The demo through the SLURM profile and, at the same time, the outputs compared locally
    (--cores 2). The local run ends first; the failure test works on a copy of it while the
    SLURM run goes on."""

    def __init__(self, base: Path):
        self.local, self.remote = base / "local", base / "slurm"
        self.local.mkdir()
        self.remote.mkdir()
        self.planned = counts(snakemake(self.remote, "-n"))
        self.started = time.monotonic()
        local_cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(self.local),
                     "--configfile", str(CONFIG), "--cores", "2", *compared_targets()]
        remote_cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(self.remote),
                      "--configfile", str(CONFIG), "--profile", str(PROFILE), *FAST]
        self.local_log, self.remote_log = base / "local.log", base / "slurm.log"
        with open(self.local_log, "w") as out:
            self.local_run = subprocess.Popen(local_cmd, stdout=out, stderr=subprocess.STDOUT)
        with open(self.remote_log, "w") as out:
            self.remote_run = subprocess.Popen(remote_cmd, stdout=out, stderr=subprocess.STDOUT)
        self._local_done = self._remote_done = False

    def local_done(self) -> Path:
        if not self._local_done:
            self.local_run.wait(timeout=DEMO_TIMEOUT)
            print(f"demo: local run done after {time.monotonic() - self.started:.0f} s")
            self._local_done = True
        assert self.local_run.returncode == 0, self.local_log.read_text()[-4000:]
        return self.local

    def remote_done(self) -> str:
        if not self._remote_done:
            self.remote_run.wait(timeout=DEMO_TIMEOUT)
            print(f"demo: SLURM run done after {time.monotonic() - self.started:.0f} s")
            self._remote_done = True
        output = self.remote_log.read_text()
        assert self.remote_run.returncode == 0, output[-6000:]
        return output

    def close(self):
        for run in (self.local_run, self.remote_run):
            if run.poll() is None:  # a test failed early: stop it (snakemake cancels its SLURM jobs)
                run.terminate()
                run.wait(timeout=120)


@pytest.fixture(scope="module")
def demo(cluster, tmp_path_factory):
    demo = Demo(tmp_path_factory.mktemp("demo"))
    yield demo
    demo.close()


def test_a_failed_job_is_reported_and_a_rerun_submits_only_what_is_missing(demo, tmp_path):
    """On a copy of the local run (a project started on a laptop, continued on the cluster): a
    corrupt image makes the SLURM extraction job fail; fixed, a rerun submits what is missing."""
    work = tmp_path / "work"
    shutil.copytree(demo.local_done(), work, symlinks=True)
    target = "results/analysis/synthetic/demo-vlm/alignment.json"
    first_test_image = next(line.split(",")[1] for line in (work / "results/data/synthetic/manifest.csv")
                            .read_text().splitlines()[1:] if line.split(",")[4] == "test")
    image = work / first_test_image
    good = image.read_bytes()
    (work / target).unlink()
    (work / "results/embeddings/synthetic/demo-vlm/test.h5").unlink()
    image.write_bytes(b"not an image")  # the fault: a corrupt image in the test split

    failed = snakemake(work, target, "--retries", "0")
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0
    jobs = records(work)
    assert [(j["rule"], j["wildcards"], j["state"]) for j in jobs] == [
        ("extract_objects", "synthetic_demo-vlm_test", "FAILED")]
    rule_log = "results/logs/extract_objects/synthetic/demo-vlm/test.log"
    slurm_log = work / f".snakemake/slurm_logs/rule_extract_objects/synthetic_demo-vlm_test/{jobs[0]['job']}.log"
    assert "Error in rule extract_objects" in text and f"SLURM-job '{jobs[0]['job']}' failed" in text
    assert rule_log in text and str(slurm_log) in text  # both logs named in the report
    assert Path(first_test_image).name in (work / rule_log).read_text()  # the rule's log names the bad image
    assert slurm_log.exists()
    assert not (work / target).exists()

    image.write_bytes(good)  # the fault removed
    rerun = snakemake(work, target, "--rerun-incomplete")
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    new = [(j["rule"], j["wildcards"], j["state"]) for j in records(work) if j["job"] != jobs[0]["job"]]
    assert sorted(new) == [("alignment", "synthetic_demo-vlm", "COMPLETED"),
                           ("extract_objects", "synthetic_demo-vlm_test", "COMPLETED")]
    assert_same_results(demo.local, work)


def fake_hub_cache(home: Path, checkpoint: Path, repo: str = "tiny-org/tiny-vlm") -> str:
    """A Hugging Face cache holding `checkpoint` as `repo` at one commit (as tests/test_fetch.py)."""
    base = home / "hub" / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    shutil.copytree(checkpoint, base / "snapshots" / "0123456789abcdef0123456789abcdef01234567")
    return repo


def test_downloads_and_fetches_stay_on_the_submit_host(demo, tmp_path):
    """download_dataset (from a loopback server) and fetch_model (from an offline Hugging Face
    cache) through the SLURM profile: both run in the snakemake process, nothing is submitted."""
    from loopback import Loopback
    from official_fixtures import make, pack

    official = make("aircraft100", tmp_path / "official")
    pack("aircraft100", official, tmp_path / "served")
    archive = "fgvc-aircraft-2013b.tar.gz"
    repo = fake_hub_cache(tmp_path / "hf", demo.local_done() / "resources/models/demo-vlm")
    work = tmp_path / "work"
    with Loopback() as server:
        server.files[archive] = (tmp_path / "served" / archive).read_bytes()
        config = tmp_path / "hub.yaml"
        cfg = yaml.safe_load(CONFIG.read_text())  # the demo's, plus a download and a Hub model
        cfg["datasets"]["aircraft100"] = {"url": f"{server.url}/{{file}}", "retries": 0}
        cfg["models"]["hub-vlm"] = {"kind": "vlm", "hf_id": repo}
        config.write_text(yaml.safe_dump(cfg))
        result = snakemake(work, f"resources/downloads/aircraft100/{archive}", "resources/models/hub-vlm",
                           config=config, env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
                                               "no_proxy": "127.0.0.1,localhost"})
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-4000:]
    assert sorted(re.findall(r"^localrule (\w+):", text, re.M)) == ["download_dataset", "fetch_model"]
    assert "submitted with SLURM jobid" not in text and records(work) == []
    assert (work / f"resources/downloads/aircraft100/{archive}").stat().st_size > 0
    assert (work / "resources/models/hub-vlm/config.json").exists()


def test_a_rule_asking_two_gpus_gets_both_in_one_job(cluster, tmp_path):
    """One SLURM job with --gpus=2; inside it fgvr.launch sees both and launches accelerate
    over exactly those (the fine-tuning rules' path; no demo rule asks for two GPUs)."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(f"""
rule all:
    input: "launch.txt"

rule two_gpus:
    output: "launch.txt"
    resources: gpu=2, mem_mb=500, runtime=5
    shell: "PYTHONPATH={ROOT / 'workflow'} {sys.executable} -m fgvr.launch > {{output}}"
""")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(tmp_path / "w"),
           "--profile", str(PROFILE), *FAST]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    [job] = records(tmp_path / "w")
    assert (job["rule"], job["partition"], job["gpus"], job["state"]) == ("two_gpus", "gpu", "gres:gpu:2", "COMPLETED")
    text = (tmp_path / "w/launch.txt").read_text()
    assert "-m accelerate.commands.launch --multi_gpu" in text
    assert "--num_processes 2 --gpu_ids 0,1" in text and "gpus: 0,1" in text
    assert f"--main_process_port {29500 + job['job'] % 10000}" in text


def test_every_job_but_the_target_went_through_sbatch(demo):
    output = demo.remote_done()
    jobs = records(demo.remote)
    submitted: dict[str, int] = {}
    for job in jobs:
        submitted[job["rule"]] = submitted.get(job["rule"], 0) + 1
    expected = {rule: n for rule, n in demo.planned.items() if rule != "all"}
    assert submitted == expected
    assert all(job["state"] == "COMPLETED" for job in jobs), jobs
    assert len(re.findall(r"has been submitted with SLURM jobid \d+", output)) == len(jobs)
    # the only job run by snakemake itself is the target rule, which runs nothing
    assert re.findall(r"^localrule (\w+):", output, re.M) == ["all"]


def test_jobs_carry_the_rules_resources(demo):
    """What each rule asks (gpu, mem_mb, runtime) is what SLURM allocated, on the partition
    partitions.yaml picks: gpu=N -> --gpus=N on `gpu`, no GPU -> `cpu`."""
    asked = submitted_resources(demo.remote_done())
    jobs = records(demo.remote)
    assert jobs and set(asked) == {job["job"] for job in jobs}
    gpu_rules = set()
    for job in jobs:
        rule, res = asked[job["job"]]
        assert rule == job["rule"]
        gpus = int(res.get("gpu", 0))
        expected = ("gpu" if gpus else "cpu", f"gres:gpu:{gpus}" if gpus else "N/A",
                    float(res["mem_mb"]), slurm_time(int(res["runtime"])))
        assert (job["partition"], job["gpus"], megabytes(job["mem"]), job["limit"]) == expected, (job, res)
        if gpus:
            gpu_rules.add(rule)
    assert {"extract_objects", "extract_categories"} <= gpu_rules


def test_outputs_equal_a_local_run(demo):
    demo.remote_done()
    assert_same_results(demo.local_done(), demo.remote)
