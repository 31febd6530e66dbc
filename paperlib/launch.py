"""The models of a grid as scheduler jobs, through submitit: a SLURM job array, or local processes.

The paper's grid is about a hundred models of 400 epochs each. :func:`submit` turns the models of a
grid that the cache does not hold yet into one job each, and hands them to submitit: on a cluster as
one SLURM job array (``launcher="slurm"``), on one machine as parallel processes
(``launcher="local"``, what the tests use). The cache is the meeting point: a job trains its model
into ``<cache>/models/<key>/`` exactly as :func:`paperlib.train.train_model` does in a notebook, then
scores it (:data:`paperlib.experiment.ALL_FACTORS`, flattened, unit norm: the chapters' default) into
``<cache>/scores/``, so a chapter run afterwards with the same profile reads both and trains nothing.

One job, one model (:class:`ModelJob`):

* Several GPUs of a node train it with DDP, as ``torchrun`` does: one task per GPU, each told its
  rank by submitit (:class:`submitit.helpers.TorchDistributedEnvironment`).
* Preemption and time limits: SLURM sends ``USR2`` ahead of the kill (``--signal=USR2@<delay>``);
  submitit then calls :meth:`ModelJob.checkpoint`, which resubmits the same job, and requeues it
  (``--requeue``). The requeued job finds the model's last epoch checkpoint
  (``checkpoint.pt``, written atomically after every epoch) and resumes from it, never from zero.
  Only the epoch in progress is lost.
* A job writes what happened to it (started, from which epoch, requeued, done, failed with the
  error) to ``<cache>/jobs/<model key>.json``; :func:`status` reads those records, the cache and
  the scheduler.

Filesystem semantics the shared cache relies on (many nodes at once; see :mod:`paperlib.cache`):
a file is written to a temporary name in its final folder and renamed (``os.replace``), which is
atomic on a local POSIX filesystem and on NFS (the server renames within one directory); and the
per-artifact lock is ``flock``, which Linux NFS clients (v4; v3 with ``lockd``) map to byte-range
locks seen by every client, as do Lustre (mounted with ``-o flock``), GPFS and BeeGFS. Where locks
do not reach across nodes, two jobs of one model could both train it; each still writes whole files,
so the cache is never left half-written, only some work is done twice.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shlex
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit

from . import cache, names
from .config import TrainConfig, cache_root, get_profile

__all__ = [
    "LAUNCHERS",
    "Resources",
    "ModelJob",
    "JobRecord",
    "submit",
    "sbatch_script",
    "status",
    "status_table",
    "pending",
    "record_path",
    "slurm_parameters",
    "active_jobs",
]

log = logging.getLogger(__name__)

LAUNCHERS = names.LAUNCHERS
#: SLURM states (sacct) and what :func:`status` calls them.
_SLURM_STATES = {
    "PENDING": "queued",
    "REQUEUED": "queued",
    "REQUEUE_HOLD": "queued",
    "CONFIGURING": "queued",
    "RESIZING": "queued",
    "SUSPENDED": "queued",
    "RUNNING": "running",
    "COMPLETING": "running",
    "FAILED": "failed",
    "TIMEOUT": "failed",
    "CANCELLED": "failed",
    "OUT_OF_MEMORY": "failed",
    "NODE_FAIL": "failed",
    "PREEMPTED": "queued",
    "BOOT_FAIL": "failed",
    "DEADLINE": "failed",
}


@dataclass(frozen=True)
class Resources:
    """What each job asks the scheduler for (one model per job).

    Attributes
    ----------
    partition, account, qos : str, optional
        SLURM's ``--partition``, ``--account``, ``--qos``.
    nodes : int
        Nodes per job (DDP across them: ``gpus_per_node`` tasks on each).
    gpus_per_node : int
        GPUs per node; one task (one DDP rank) per GPU. 0 trains on CPUs (one task).
    cpus_per_task : int
        CPU cores per task (data decoding workers, torch threads).
    mem_gb : float, optional
        Memory per node in GB (SLURM ``--mem``); None leaves it to the partition's default.
    time_min : int
        Time limit per job in minutes; a job that reaches it is requeued and resumes.
    array_parallelism : int
        At most this many jobs of the array run at once (SLURM ``--array=0-N%P``); for the local
        launcher, at most this many processes.
    signal_delay_s : int
        Seconds between the preemption/time-limit signal and the kill: time to leave cleanly.
    extra : tuple of (str, str or True)
        Further ``#SBATCH`` options, verbatim (``--slurm-constraint=a100`` on the command line
        gives ``("constraint", "a100")``).
    setup : tuple of str
        Shell lines the job runs before Python (``module load cuda``, ``source venv/bin/activate``).
    """

    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: float | None = None
    time_min: int = 24 * 60
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = 256
    signal_delay_s: int = 120
    extra: tuple = ()
    setup: tuple = ()

    def __post_init__(self):
        for name in ("nodes", "cpus_per_task", "time_min", "array_parallelism", "signal_delay_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Resources.{name} must be a positive integer, got {v!r}")
        if isinstance(self.gpus_per_node, bool) or not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            raise ValueError(f"Resources.gpus_per_node must be an integer >= 0, got {self.gpus_per_node!r}")
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise ValueError(f"Resources.mem_gb must be > 0 or None, got {self.mem_gb!r}")

    @property
    def tasks_per_node(self) -> int:
        """One task (DDP rank) per GPU; one task on a CPU-only job."""
        return max(1, self.gpus_per_node)


def slurm_parameters(res: Resources, job_name: str = "paperlib") -> dict[str, Any]:
    """The parameters of :class:`submitit.SlurmExecutor` (sbatch's names) for ``res``.

    ``--requeue`` is always set: a preempted job goes back to the queue and resumes. ``mem`` is
    spelled with its unit (``"200GB"``): sbatch reads a bare number as megabytes.
    """
    from submitit.slurm.slurm import _convert_mem  # submitit's own GB -> sbatch spelling

    p: dict[str, Any] = {
        "job_name": job_name,
        "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "time": res.time_min,
        "signal_delay_s": res.signal_delay_s,
        "array_parallelism": res.array_parallelism,
        "additional_parameters": {"requeue": True, **dict(res.extra)},
    }
    if res.gpus_per_node:
        p["gpus_per_node"] = res.gpus_per_node
    for k in ("partition", "account", "qos"):
        if getattr(res, k) is not None:
            p[k] = getattr(res, k)
    if res.mem_gb is not None:
        p["mem"] = _convert_mem(res.mem_gb)
    if res.setup:
        p["setup"] = list(res.setup)
    return p


def record_path(cfg: TrainConfig, cache_dir=None, data_root=None) -> Path:
    """``<cache>/jobs/<model key>.json``: what the jobs of the model ``cfg`` did."""
    from . import train

    return cache_root(cache_dir) / "jobs" / f"{train.model_dir(cfg, cache_dir, data_root, create=False).name}.json"


@dataclass
class JobRecord:
    """A model's job, as submitted and as it reported itself (``<cache>/jobs/<model key>.json``).

    ``state``: submitted, running, requeued, done, failed. ``attempts``: one entry per start
    (host, pid, the epoch it started from, time). ``error``: the failure's last line.
    """

    launcher: str
    job_id: str
    folder: str
    stdout: str
    stderr: str
    submitted: str
    state: str = "submitted"
    attempts: list = field(default_factory=list)
    error: str | None = None

    def save(self, path: Path) -> None:
        cache.save(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> JobRecord | None:
        try:
            return cls(**cache.load(path)) if cache.is_valid(path) else None
        except (cache.CorruptArtifact, TypeError):
            return None


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _update_record(path: Path, **changes) -> None:
    rec = JobRecord.load(path)
    if rec is None:  # a job started by hand (not through submit): record it all the same
        env = submitit.JobEnvironment()
        rec = JobRecord(
            launcher=os.environ.get("SUBMITIT_EXECUTOR", "?"),
            job_id=env.job_id,
            folder="",
            stdout=str(env.paths.stdout),
            stderr=str(env.paths.stderr),
            submitted=_now(),
        )
    attempt = changes.pop("attempt", None)
    if attempt is not None:
        rec.attempts.append(attempt)
    for k, v in changes.items():
        setattr(rec, k, v)
    with cache.lock(path.parent, what=f"to update {path.name}"):
        rec.save(path)


@dataclass
class ModelJob(submitit.helpers.Checkpointable):
    """One job: train the model ``cfg`` (resuming from its checkpoint), then score it.

    Picklable (submitit sends it to the job); calling it runs in the job. On the scheduler's
    preemption or time-limit signal submitit calls :meth:`checkpoint`, which resubmits this same job:
    it resumes from the model's last epoch checkpoint.

    Attributes
    ----------
    cfg : TrainConfig
    profile : str
        The profile's name; with ``overrides`` it gives the evaluation settings and data workers.
    overrides : dict
        Profile fields changed (``epochs``, ``dataset``), as ``paperlib train`` was given them.
    cache_dir, data_root : str, optional
        Absolute paths (a job may start in another directory, on another node).
    score : bool
        Score the model after training (every factor of ``ALL_FACTORS``, flattened, unit norm).
    threads : int, optional
        torch threads per task (default: torch's own choice).
    """

    cfg: TrainConfig
    profile: str
    overrides: dict = field(default_factory=dict)
    cache_dir: str | None = None
    data_root: str | None = None
    score: bool = True
    device: str = "auto"
    compile: bool | None = None
    threads: int | None = None
    progress: bool = True

    def __call__(self) -> dict:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
        import torch

        from . import experiment, train

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # one DDP rank per task, as torchrun would set them
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        if self.threads:
            torch.set_num_threads(self.threads)
        rank = env.global_rank
        rec = record_path(self.cfg, self.cache_dir, self.data_root)
        mdir = train.model_dir(self.cfg, self.cache_dir, self.data_root, create=False)
        if rank == 0:
            prog = train.progress_of(mdir)
            start = 0 if cache.is_written(mdir / "model.pt") or prog is None else int(prog["epoch"])
            _update_record(
                rec,
                state="running",
                attempt={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "job_id": env.job_id,
                    "start_epoch": start,
                    "time": _now(),
                },
            )
            log.info(
                "job %s: %s %s/%s seed %d %s, from epoch %d of %d",
                env.job_id,
                self.cfg.arch,
                self.cfg.dataset,
                self.cfg.hierarchy,
                self.cfg.seed,
                self.cfg.loss,
                start,
                self.cfg.epochs,
            )
        prof = get_profile(self.profile, **self.overrides)
        try:
            tr = train.train_model(
                self.cfg,
                data_root=self.data_root,
                cache_dir=self.cache_dir,
                device=self.device,
                num_workers=prof.num_workers,
                progress=self.progress and rank == 0,
                compile=prof.compile if self.compile is None else self.compile,
            )
            out = {"model": str(tr.path), "epochs": len(tr.history)}
            if self.score and rank == 0 and self.cfg.hierarchy != "subclass":  # one subclass per class: read OOD
                ecfg = prof.eval_config(experiment.ALL_FACTORS, "flatten", True)
                ev = experiment.evaluate(
                    tr,
                    ecfg,
                    data_root=self.data_root,
                    cache_dir=self.cache_dir,
                    device=self.device,
                    progress=self.progress,
                    batch_size=prof.eval_batch_size,
                )
                out["accuracy"] = ev.accuracy
        except Exception as exc:
            if rank == 0:
                _update_record(rec, state="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
            raise
        finally:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
        if rank == 0:
            _update_record(rec, state="done", error=None)
        return out

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on preemption or time limit: resubmit this job unchanged; the
        requeued job resumes from the model's last epoch checkpoint."""
        if submitit.JobEnvironment().global_rank == 0:
            _update_record(record_path(self.cfg, self.cache_dir, self.data_root), state="requeued")
        log.warning("preempted or out of time: requeued; the next start resumes from the last epoch checkpoint")
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _scores_dir(cfg: TrainConfig, profile: str, overrides: dict, cache_dir, data_root) -> Path:
    from . import experiment

    ecfg = get_profile(profile, **overrides).eval_config(experiment.ALL_FACTORS, "flatten", True)
    return cache.artifact_path(cache_root(cache_dir), "scores", experiment.scores_key(cfg, ecfg, data_root))


def _done(cfg: TrainConfig, profile: str, overrides: dict, cache_dir, data_root, score: bool) -> bool:
    """Whether the model (and with ``score`` its all-factor scores) is written in the cache. Checked
    without reading the files (:func:`paperlib.cache.is_written`: a VGG-16 is a gigabyte); a file
    corrupted since is found when it is loaded, and then trained or scored again."""
    from . import train

    if not cache.is_written(train.model_dir(cfg, cache_dir, data_root, create=False) / "model.pt"):
        return False
    if not score or cfg.hierarchy == "subclass":
        return True
    d = _scores_dir(cfg, profile, overrides, cache_dir, data_root)
    return cache.is_written(d / "scores.json") and cache.is_written(d / "arrays.npz")


def pending(
    configs: Sequence[TrainConfig],
    profile: str,
    overrides: dict | None = None,
    *,
    cache_dir=None,
    data_root=None,
    score: bool = True,
) -> list[TrainConfig]:
    """The models of ``configs`` whose trained weights (and, with ``score``, scores) are not cached."""
    return [c for c in configs if not _done(c, profile, overrides or {}, cache_dir, data_root, score)]


def _job_dir(cache_dir, job_dir) -> Path:
    return Path(job_dir).expanduser().resolve() if job_dir else cache_root(cache_dir) / "jobs" / "submitit"


def _job_name(configs: Sequence[TrainConfig]) -> str:
    return "paperlib-" + "-".join(sorted({c.arch for c in configs}))[:40]


def sbatch_script(configs: Sequence[TrainConfig], res: Resources, *, cache_dir=None, job_dir=None) -> str:
    """The sbatch script :func:`submit` would send for ``configs`` (one array task per model), not sent.

    The same text as submitit writes (its own sbatch writer), with the array size, resources,
    ``--signal`` and ``--requeue`` of :func:`slurm_parameters`.
    """
    from submitit.slurm import slurm

    params = slurm_parameters(res, _job_name(configs))
    folder = _job_dir(cache_dir, job_dir) / "%j"
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return slurm._make_sbatch_string(
        command=command, folder=folder, map_count=len(configs) if len(configs) > 1 else None, **params
    )


def _executor(launcher: str, res: Resources, folder: Path, job_name: str):
    if launcher == "slurm":
        try:
            ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=30)
        except RuntimeError as exc:  # submitit: 'Could not detect "srun"'
            raise FileNotFoundError(
                f"--launcher slurm needs SLURM's commands on this machine ({exc}); run it on "
                "a node of the cluster, see the script with --dry-run, or use --launcher local"
            ) from exc
        ex.update_parameters(**slurm_parameters(res, job_name))
        return ex
    ex = submitit.LocalExecutor(folder=folder, max_num_timeout=30)
    ex.update_parameters(
        timeout_min=res.time_min,
        tasks_per_node=res.tasks_per_node,
        gpus_per_node=res.gpus_per_node,
        signal_delay_s=res.signal_delay_s,
        setup=list(res.setup),
    )
    return ex


def submit(
    configs: Sequence[TrainConfig],
    profile: str,
    *,
    launcher: str = "local",
    resources: Resources | None = None,
    overrides: dict | None = None,
    cache_dir=None,
    data_root=None,
    job_dir=None,
    score: bool = True,
    device: str = "auto",
    compile: bool | None = None,
    progress: bool = True,
    wait: bool | None = None,
) -> list:
    """Submit one job per model of ``configs`` that is not cached yet; return the submitit jobs.

    Parameters
    ----------
    configs : sequence of TrainConfig
        The grid (e.g. :func:`paperlib.config.experiment_configs`); validate it first
        (:func:`paperlib.experiment.validate_grid`): the jobs should not be the first to find a
        missing data root.
    profile : str
        The profile the configs come from; ``overrides`` its changed fields.
    launcher : {"local", "slurm"}
        ``slurm``: one job array through ``sbatch``, returned at once. ``local``: at most
        ``resources.array_parallelism`` processes at a time on this machine; with ``wait`` (the
        default for local) returns when every job has ended.
    resources : Resources
    cache_dir, data_root : path-like, optional
        Made absolute before they go to the jobs.
    job_dir : path-like, optional
        submitit's folder for pickles and logs (default ``<cache>/jobs/submitit``; one folder per
        job id).
    score : bool
        Score each model after training.

    Returns
    -------
    list of submitit.Job
        One per model submitted (models already cached are skipped), in the order of ``configs``.
    """
    names.check("launcher", launcher)
    res = resources or Resources()
    overrides = dict(overrides or {})
    cache_dir = str(cache_root(cache_dir))
    data_root = None if data_root is None else str(Path(data_root).expanduser().resolve())
    todo = pending(configs, profile, overrides, cache_dir=cache_dir, data_root=data_root, score=score)
    if not todo:
        return []
    folder = _job_dir(cache_dir, job_dir) / "%j"
    threads = res.cpus_per_task if launcher == "local" else None
    jobs_fn = [
        ModelJob(c, profile, overrides, cache_dir, data_root, score, device, compile, threads, progress) for c in todo
    ]
    ex = _executor(launcher, res, folder, _job_name(todo))
    if launcher == "slurm":
        jobs = ex.submit_array(jobs_fn) if len(jobs_fn) > 1 else [ex.submit(jobs_fn[0])]
        for c, j in zip(todo, jobs):
            _record_submission(c, j, launcher, cache_dir, data_root)
        return jobs
    return _run_local(ex, todo, jobs_fn, res.array_parallelism, cache_dir, data_root, wait=wait is not False)


def _record_submission(cfg: TrainConfig, job, launcher: str, cache_dir, data_root) -> None:
    path = record_path(cfg, cache_dir, data_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = JobRecord(
        launcher=launcher,
        job_id=str(job.job_id),
        folder=str(job.paths.folder),
        stdout=str(job.paths.stdout),
        stderr=str(job.paths.stderr),
        submitted=_now(),
    )
    with cache.lock(path.parent, what=f"to record {path.name}"):
        rec.save(path)


def _run_local(ex, todo, jobs_fn, parallel: int, cache_dir, data_root, wait: bool) -> list:
    """Start the local jobs, at most ``parallel`` at a time; the last ones start as earlier ones end."""
    jobs: list = []
    queue = list(zip(todo, jobs_fn))
    while queue:
        running = [j for j in jobs if not j.done()]
        while queue and len(running) < parallel:
            cfg, fn = queue.pop(0)
            job = ex.submit(fn)
            _record_submission(cfg, job, "local", cache_dir, data_root)
            jobs.append(job)
            running.append(job)
        if queue:
            time.sleep(0.5)
    if wait:
        for j in jobs:
            j.wait()
    return jobs


# --------------------------------------------------------------------------- status
@dataclass(frozen=True)
class ModelStatus:
    """One row of :func:`status`."""

    config: TrainConfig
    state: str  # cached, running, queued, failed, missing
    detail: str  # epochs done, scored or not, the error
    job_id: str | None
    log: str | None


def _pid_alive(pid: str) -> bool:
    """Whether the process ``pid`` of this machine exists (signal 0 on POSIX). On Windows, where signal
    0 is CTRL_C_EVENT and ``os.kill`` would interrupt the process, it is taken to be alive (a job record
    then keeps its entries from ``cache prune``; Windows is not supported, README)."""
    if os.name == "nt":
        return True
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _scheduler_state(rec: JobRecord) -> str | None:
    """What the scheduler says of the record's job: queued, running, failed; None when it has ended
    (or, locally, its controller is gone); "unknown" when the scheduler cannot be asked."""
    if rec.launcher == "local":
        # the controller's pid is the job id; alive means it still runs (or is about to restart its task)
        return "running" if _pid_alive(rec.job_id) else None
    try:
        state = submitit.SlurmJob(folder=rec.folder, job_id=rec.job_id).state
    except Exception:  # no sacct here
        return "unknown"
    word = (state or "UNKNOWN").split()[0].upper()
    if word == "COMPLETED":
        return None
    return _SLURM_STATES.get(word, "unknown")


#: A job's own last word (its record), when the scheduler cannot be asked.
_RECORD_STATES = {"submitted": "queued", "requeued": "queued", "running": "running", "failed": "failed"}


def active_jobs(cache_dir=None) -> dict[str, str]:
    """The models whose job is queued or running, from the job records ``<cache>/jobs/<model key>.json``.

    A record that says its job was submitted, requeued or runs counts while the scheduler says the job
    is queued or running, or cannot be asked (then the record's word is taken, to be safe).

    Returns
    -------
    dict
        ``{model key: "job <id> <state>"}``, e.g. ``{"3f9c...": "job 81234_3 running"}``.
    """
    out = {}
    folder = cache_root(cache_dir) / "jobs"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        rec = JobRecord.load(path)
        if rec is None or rec.state not in ("submitted", "requeued", "running"):
            continue
        sched = _scheduler_state(rec)
        if sched in ("queued", "running"):
            out[path.stem] = f"job {rec.job_id} {sched}"
        elif sched == "unknown":
            out[path.stem] = f"job {rec.job_id} {_RECORD_STATES[rec.state]} (as it last reported; no scheduler to ask)"
    return out


def status(
    configs: Sequence[TrainConfig],
    profile: str,
    overrides: dict | None = None,
    *,
    cache_dir=None,
    data_root=None,
    score: bool = True,
) -> list[ModelStatus]:
    """Per model of ``configs``: cached, running, queued, failed or missing, from the cache, the job
    records and the scheduler.

    ``cached``: its weights are cached (``detail`` says whether its scores are). ``running``: a
    process holds the model's lock, or the scheduler runs its job (``detail``: epochs done).
    ``queued``: submitted, waiting. ``failed``: the job ended without the model (``detail``: the
    error; ``log``: the job's stderr). ``missing``: no job (``detail``: a checkpoint's epoch if one
    is left).
    """
    from . import train

    overrides = overrides or {}
    rows = []
    for cfg in configs:
        mdir = train.model_dir(cfg, cache_dir, data_root, create=False)
        rec = JobRecord.load(record_path(cfg, cache_dir, data_root))
        prog = train.progress_of(mdir)
        epochs = f"epoch {prog['epoch']}/{cfg.epochs}" if prog else f"epoch 0/{cfg.epochs}"
        job_id, logf = (rec.job_id, rec.stderr) if rec else (None, None)
        if cache.is_written(mdir / "model.pt"):
            scored = _done(cfg, profile, overrides, cache_dir, data_root, True)
            state, detail = "cached", ("scored" if scored else "not scored") if score else ""
        elif cache.is_locked(mdir):
            state, detail = "running", epochs
        else:
            sched = _scheduler_state(rec) if rec else None
            if sched == "unknown":
                state = _RECORD_STATES.get(rec.state, "failed")
                detail = f"{epochs}; scheduler not reachable, as the job last reported" + (
                    f": {rec.error}" if rec.error else ""
                )
            elif sched is not None:
                state, detail = sched, (rec.error or epochs) if sched == "failed" else epochs
            elif rec is not None and rec.state in ("failed", "running", "requeued", "submitted"):
                # ended without a model: failed (a job killed outright never wrote its own end)
                state = "failed"
                detail = rec.error or f"ended without a model ({epochs}; see the log)"
            else:
                state, detail = "missing", (f"checkpoint at {epochs}" if prog else "")
        rows.append(ModelStatus(cfg, state, detail, job_id, logf))
    return rows


def status_table(rows: Sequence[ModelStatus]) -> str:
    """:func:`status` as a fixed-width table, one model per line, and a count per state."""
    head = f"{'arch':14} {'dataset':12} {'hierarchy':9} {'loss':15} {'seed':>4}  {'state':8} {'job':>12}  detail / log"
    lines = [head]
    for r in rows:
        c = r.config
        ds = c.dataset if len(c.dataset) <= 12 else "…" + c.dataset[-11:]
        tail = r.detail + (f"  ({r.log})" if r.state == "failed" and r.log else "")
        lines.append(
            f"{c.arch:14} {ds:12} {c.hierarchy:9} {c.loss:15} {c.seed:>4}  {r.state:8} {r.job_id or '-':>12}  {tail}"
        )
    counts = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f" of {len(rows)} models")
    return "\n".join(lines)
