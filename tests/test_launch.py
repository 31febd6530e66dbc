"""The grid as jobs (paperlib.launch): submitit's local executor for real, SLURM up to sbatch.

The local test trains a smoke grid in two parallel processes, preempts one job mid-training with the
signal SLURM sends (USR2), sees it requeued and resumed from its epoch checkpoint, compares it with a
run in this process, and then runs the shuffling chapter on the same cache, which trains nothing.
The SLURM test replaces ``sbatch``/``srun``/``sacct`` with scripts that record what they are given,
so the sbatch script submitit writes for a ``paper`` experiment is read without a cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch

from paperlib import cli, experiment, launch, train
from paperlib.config import get_profile

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 4  # smoke resnet_mini: about 4 s an epoch on one thread


def _wait_for(pred, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _task_pids(controller_pid: int) -> list[int]:
    """The task processes submitit's local controller (the job id is its pid) runs."""
    try:
        return [p.pid for p in psutil.Process(controller_pid).children()]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow  # two training jobs, a preemption and a chapter executed by papermill
def test_local_launcher_requeues_a_preempted_job_resumes_it_and_the_chapter_trains_nothing(tmp_path, one_thread):
    import papermill as pm

    cache = tmp_path / "cache"
    prof = get_profile("smoke", epochs=EPOCHS)
    cfgs = [prof.train_config("resnet", hierarchy=h) for h in ("standard", "shuffled")]
    victim = cfgs[0]
    vdir = train.model_dir(victim, cache)
    assert [r.state for r in launch.status(cfgs, "smoke", {"epochs": EPOCHS}, cache_dir=cache)] == ["missing"] * 2

    res = launch.Resources(gpus_per_node=0, cpus_per_task=1, array_parallelism=2)
    jobs = launch.submit(
        cfgs,
        "smoke",
        launcher="local",
        resources=res,
        overrides={"epochs": EPOCHS},
        cache_dir=cache,
        progress=False,
        wait=False,
    )
    assert len(jobs) == 2 and all(not j.done() for j in jobs)  # both run at once

    # preempt the victim between two epochs' checkpoints, as SLURM would: USR2 to its task
    prog = _wait_for(lambda: (p := train.progress_of(vdir)) and p["epoch"] >= 1 and p, 240, "the first epoch")
    assert prog["epoch"] < EPOCHS, "the job finished before it could be preempted"
    st = {r.config: r.state for r in launch.status(cfgs, "smoke", {"epochs": EPOCHS}, cache_dir=cache)}
    assert st[victim] == "running"
    pids = _task_pids(int(jobs[0].job_id))
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGUSR2)
    for j in jobs:
        j.wait()
    assert [j.state for j in jobs] == ["FINISHED", "FINISHED"]

    rec = launch.JobRecord.load(launch.record_path(victim, cache))
    assert rec.state == "done" and rec.error is None
    assert len(rec.attempts) == 2, rec.attempts  # started, preempted, requeued, started again
    assert rec.attempts[0]["start_epoch"] == 0
    assert 1 <= rec.attempts[1]["start_epoch"] < EPOCHS  # resumed from its checkpoint, not from zero
    log = Path(rec.stderr).read_text()
    assert "requeued" in log and f"resuming {vdir} from its checkpoint at epoch {rec.attempts[1]['start_epoch']}" in log
    other = launch.JobRecord.load(launch.record_path(cfgs[1], cache))
    assert other.state == "done" and len(other.attempts) == 1
    rows = launch.status(cfgs, "smoke", {"epochs": EPOCHS}, cache_dir=cache)
    assert [(r.state, r.detail) for r in rows] == [("cached", "scored")] * 2
    assert "2 cached of 2 models" in launch.status_table(rows)

    # the preempted-and-resumed model equals one trained in one go here, weights and scores
    ref = train.train_model(victim, cache_dir=tmp_path / "ref", progress=False)
    got = train.train_model(victim, cache_dir=cache, progress=False)  # loads: trains nothing
    assert len(got.history) == EPOCHS and got.history == ref.history
    for (k, a), b in zip(got.model.state_dict().items(), ref.model.state_dict().values()):
        assert torch.equal(a, b), k
    ecfg = prof.eval_config(experiment.ALL_FACTORS, "flatten", True)
    ev_job = experiment.evaluate(got, ecfg, cache_dir=cache, progress=False, batch_size=prof.eval_batch_size)
    ev_ref = experiment.evaluate(ref, ecfg, cache_dir=tmp_path / "ref", progress=False, batch_size=prof.eval_batch_size)
    pd.testing.assert_frame_equal(ev_job.scores, ev_ref.scores)

    # the chapter on the jobs' cache: it reads the models (and the scores of its factors 1, 3, 5 out of
    # the jobs' 1..10) and trains nothing
    before = sorted(p.name for p in (cache / "models").iterdir())
    out = tmp_path / "05.ipynb"
    pm.execute_notebook(
        str(REPO / "nbs" / "05_shuffling.ipynb"),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "profile": "smoke",
            "architectures": ["resnet"],
            "overrides": {"epochs": EPOCHS},
            "cache_dir": str(cache),
        },
        cwd=str(tmp_path),
    )
    assert sorted(p.name for p in (cache / "models").iterdir()) == before
    text = out.read_text()
    assert "train resnet_mini" not in text and "cluster resnet_mini" not in text  # no training, no clustering bar


def test_scores_of_some_factors_are_read_from_the_all_factor_entry(tmp_path, one_thread):
    """The chapters ask for factors 1, 3, 5; the jobs score 1..10: the subset read from that entry
    equals a direct computation, and no new entry is written."""
    prof = get_profile("smoke", epochs=1)
    tr = train.train_model(prof.train_config("resnet"), cache_dir=tmp_path / "a", progress=False)
    wide = prof.eval_config(experiment.ALL_FACTORS, "flatten", True)
    some = prof.eval_config([1, 3, 5], "flatten", True)
    kw = dict(progress=False, batch_size=prof.eval_batch_size)
    experiment.evaluate(tr, wide, cache_dir=tmp_path / "a", **kw)
    n_entries = len(list((tmp_path / "a" / "scores").iterdir()))
    subset = experiment.evaluate(tr, some, cache_dir=tmp_path / "a", **kw)
    assert len(list((tmp_path / "a" / "scores").iterdir())) == n_entries
    shutil.copytree(tmp_path / "a" / "models", tmp_path / "b" / "models")
    direct = experiment.evaluate(tr, some, cache_dir=tmp_path / "b", **kw)
    assert sorted(direct.scores["factor"].unique()) == [1, 3, 5]
    pd.testing.assert_frame_equal(subset.scores, direct.scores)
    pd.testing.assert_frame_equal(subset.per_superclass, direct.per_superclass)
    assert subset.assignments.keys() == direct.assignments.keys()
    for k in direct.assignments:
        np.testing.assert_array_equal(subset.assignments[k], direct.assignments[k])


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """``sbatch`` that keeps each script it is given and answers with a job id, ``srun`` that
    exists, and ``sacct`` that reports the states written to ``<bin>/sacct.txt``."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(
        '#!/bin/sh\nn=$(ls "$(dirname "$0")"/submitted_*.sh 2>/dev/null | wc -l)\n'
        'cp "$1" "$(dirname "$0")/submitted_$n.sh"\necho "Submitted batch job 4242"\n'
    )
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "sacct").write_text('#!/bin/sh\ncat "$(dirname "$0")/sacct.txt"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    return bin_


def test_slurm_array_for_a_paper_experiment_resources_requeue_and_status(tmp_path, fake_slurm, capsys):
    from paperlib.testing import write_imagenet_fixture

    root = write_imagenet_fixture(tmp_path / "imagenet", "entity13", {"train": 1, "val": 1}, size=8)
    cache = tmp_path / "cache"
    args = [
        "train",
        "--experiment",
        "fig2_shuffling",
        "--profile",
        "paper",
        "--data-root",
        str(root),
        "--cache-dir",
        str(cache),
        "--launcher",
        "slurm",
        "--partition",
        "gpu",
        "--account",
        "lab",
        "--qos",
        "high",
        "--gpus-per-node",
        "4",
        "--cpus-per-task",
        "12",
        "--mem-gb",
        "200",
        "--time-min",
        "720",
        "--parallel",
        "2",
        "--setup",
        "source /opt/venv/bin/activate",
        "--slurm-constraint",
        "a100",
        "--slurm-exclusive",
    ]

    # a dry run prints the script and submits nothing
    assert cli.main([*args, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "4 models, 0 cached, 4 to submit (dry run" in dry and not list(fake_slurm.glob("submitted_*.sh"))

    assert cli.main(args) == 0
    out = capsys.readouterr().out
    scripts = sorted(fake_slurm.glob("submitted_*.sh"))
    assert len(scripts) == 1, "one array, not one sbatch per model"
    sbatch = scripts[0].read_text()
    flags = {line.split()[1] for line in sbatch.splitlines() if line.startswith("#SBATCH")}
    for flag in (
        "--array=0-3%2",
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
        "--nodes=1",
        "--gpus-per-node=4",
        "--ntasks-per-node=4",
        "--cpus-per-task=12",
        "--mem=200GB",
        "--time=720",
        "--signal=USR2@120",
        "--requeue",
        "--constraint=a100",
        "--exclusive",
        "--job-name=paperlib-resnet50-vgg16",
    ):
        assert flag in flags, (flag, sorted(flags))
    assert "source /opt/venv/bin/activate" in sbatch and "-m submitit.core._submit" in sbatch
    assert "srun --unbuffered" in sbatch  # one task per GPU: the DDP ranks
    # the dry run printed the same options
    assert {line.split()[1] for line in dry.splitlines() if line.startswith("#SBATCH")} == flags
    assert "submitted 4 jobs" in out

    prof = get_profile("paper")
    from paperlib.config import experiment_configs

    cfgs = experiment_configs(prof, "fig2_shuffling")
    assert sorted({(c.arch, c.hierarchy) for c in cfgs}) == [
        ("resnet50", "shuffled"),
        ("resnet50", "standard"),
        ("vgg16", "shuffled"),
        ("vgg16", "standard"),
    ]
    recs = [launch.JobRecord.load(launch.record_path(c, cache, root)) for c in cfgs]
    assert sorted(r.job_id for r in recs) == ["4242_0", "4242_1", "4242_2", "4242_3"]
    assert all(r.launcher == "slurm" and r.state == "submitted" for r in recs)
    ids = {c: r.job_id for c, r in zip(cfgs, recs)}

    # status: the scheduler's word (sacct) for each array task
    states = {"4242_0": "RUNNING", "4242_1": "PENDING", "4242_2": "FAILED", "4242_3": "CANCELLED by 7"}
    (fake_slurm / "sacct.txt").write_text(
        "JobID|State|NodeList\n" + "".join(f"{j}|{s}|node\n" for j, s in states.items())
    )
    want = {"RUNNING": "running", "PENDING": "queued", "FAILED": "failed", "CANCELLED": "failed"}
    rows = launch.status(cfgs, "paper", cache_dir=cache, data_root=root)
    assert [r.state for r in rows] == [want[states[ids[r.config]].split()[0]] for r in rows]
    failed = [r for r in rows if r.state == "failed"]
    assert all(r.log and r.log.endswith("_0_log.err") for r in failed)
    assert (
        cli.main(
            [
                "status",
                "--experiment",
                "fig2_shuffling",
                "--profile",
                "paper",
                "--data-root",
                str(root),
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "2 failed, 1 queued, 1 running of 4 models" in table
    assert all(j in table for j in ids.values())


def test_bad_launcher_arguments_are_refused_before_any_compute(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--profile", "smoke", "--launcher", "pbs"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --slurm-* options only with the slurm launcher
        cli.main(["train", "--profile", "smoke", "--launcher", "local", "--slurm-constraint", "a100"])
    assert "--slurm-NAME options go with train --launcher slurm" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown launcher 'pbs'"):
        launch.submit([], "smoke", launcher="pbs")
    with pytest.raises(ValueError, match="gpus_per_node"):
        launch.Resources(gpus_per_node=-1)


def test_status_and_pending_only_look_they_make_no_cache_folders(tmp_path):
    cache = tmp_path / "cache"
    prof = get_profile("smoke", epochs=EPOCHS)
    cfgs = [prof.train_config("resnet", hierarchy=h) for h in ("standard", "shuffled")]
    assert [r.state for r in launch.status(cfgs, "smoke", {"epochs": EPOCHS}, cache_dir=cache)] == ["missing"] * 2
    assert launch.pending(cfgs, "smoke", {"epochs": EPOCHS}, cache_dir=cache) == cfgs
    made = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) if cache.exists() else []
    assert not [p for p in made if p.startswith(("models", "scores"))], made
