"""``cache prune`` never removes an entry in use, and says what it could not remove."""

import errno
import os
import subprocess
import sys
import threading
import time

import pytest

from paperlib import cache, cli, config, inventory, launch, train


def tiny(**kw):
    prof = config.get_profile("smoke", epochs=3)
    return prof.train_config("resnet", **kw).replace(width=2, train_per_subclass=4, batch_size=32)


def legacy_entry(root, name="0123456789abcdef"):
    """A finished model entry of old code (stale for the current code), ten days old."""
    d = root / "models" / name
    cache.save(d / "config.json", {"config": {"arch": "resnet_mini", "seed": 99}, "code": "old"})
    cache.save(d / "model.pt", {"ema_state": {}})
    for f in d.iterdir():
        os.utime(f, (time.time() - 10 * 86400,) * 2)
    return d


def prune_cli(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "paperlib", "cache", "prune", "--cache-dir", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_prune_during_training_keeps_the_model(tmp_path, one_thread):
    cfg = tiny(seed=11).replace(snapshot_epochs=(1, 2))
    runs = []

    def prune_now(epoch, record):  # a second process prunes while this one trains (and holds the lock)
        if epoch == 1:
            runs.append(prune_cli(tmp_path, "--kind", "models", "--older-than", "0"))

    tr = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=prune_now)
    out = runs[0]
    assert out.returncode == 0, out.stderr
    assert f"skipped models/{tr.path.name} (in use" in out.stdout and "removed 0 entries" in out.stdout
    assert cache.is_valid(tr.path / "model.pt") and cache.is_valid(tr.path / "config.json")
    for epoch in (1, 2):
        assert train.load_snapshot(tr, epoch).epoch == epoch
    [row] = launch.status([cfg], "smoke", {"epochs": 3}, cache_dir=tmp_path, score=False)
    assert row.state == "cached"
    # once the training is over the lock is free and the same prune removes it
    assert prune_cli(tmp_path, "--kind", "models", "--older-than", "0").returncode == 0
    assert not tr.path.exists()


def test_stale_entry_of_a_running_job_is_kept(tmp_path):
    d = legacy_entry(tmp_path)
    rec = launch.JobRecord(
        launcher="local", job_id=str(os.getpid()), folder="", stdout="", stderr="", submitted="now", state="running"
    )
    rec.save(tmp_path / "jobs" / f"{d.name}.json")
    gone = inventory.prune(tmp_path, stale=True)
    assert list(gone) == [] and d.exists()
    [(e, why)] = gone.skipped
    assert e.key == d.name and f"job {os.getpid()} running" in why
    rec.state = "done"
    rec.save(tmp_path / "jobs" / f"{d.name}.json")
    assert [e.key for e in inventory.prune(tmp_path, stale=True)] == [d.name] and not d.exists()


def test_the_scores_of_a_running_job_s_model_are_kept_too(tmp_path):
    d = legacy_entry(tmp_path)
    scores = tmp_path / "scores" / "fedcba9876543210"
    cache.save(scores / "config.json", {"train": cache.load(d / "config.json")["config"], "code": "old"})
    launch.JobRecord(
        launcher="local", job_id=str(os.getpid()), folder="", stdout="", stderr="", submitted="now", state="running"
    ).save(tmp_path / "jobs" / f"{d.name}.json")
    gone = inventory.prune(tmp_path, kinds=["scores"])
    assert list(gone) == [] and scores.exists()
    [(e, why)] = gone.skipped
    assert e.key == scores.name and "its model's job" in why


def test_prune_waits_for_nobody_and_a_waiting_run_makes_the_entry_again(tmp_path):
    d = cache.artifact_dir(tmp_path, "scores", {"x": 1})
    (d / "config.json").unlink()  # made again by the lock below from what artifact_dir was given
    got = threading.Event()
    release = threading.Event()

    def hold():
        with cache.try_lock(d) as held:
            assert held
            got.set()
            release.wait(10)
            inventory._remove(d)  # pruned while another waits for the lock

    t = threading.Thread(target=hold)
    t.start()
    got.wait(10)
    threading.Timer(0.3, release.set).start()
    with cache.lock(d):  # waits, finds the folder gone, makes it and locks the new lock file
        assert d.is_dir() and cache.load(d / "config.json") == {"x": 1}
    t.join()
    assert cache.load(d / "config.json") == {"x": 1}


def test_prune_on_a_read_only_cache_says_so_and_fails(tmp_path, monkeypatch, capsys):
    d = legacy_entry(tmp_path)
    real = os.unlink

    def read_only(path, *a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "unlink", read_only)
    rc = cli.main(["cache", "prune", "--stale", "--cache-dir", str(tmp_path)])
    monkeypatch.setattr(os, "unlink", real)
    out, err = capsys.readouterr()
    assert rc == 1 and d.exists()
    assert "removed 0 entries, freed 0 B" in out
    assert f"could not remove models/{d.name}" in err and "Read-only file system" in err
    assert "paperlib: error:" in err


def test_a_local_job_is_never_signalled_on_windows(monkeypatch):
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "kill", lambda *a: pytest.fail("os.kill(pid, 0) is CTRL_C_EVENT on Windows"))
    assert launch._pid_alive(str(os.getpid()))


def test_a_lock_file_removed_again_and_again_is_an_error_not_a_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_same_file", lambda fd, path: path.name != ".lock")  # removed after every locking
    monkeypatch.setattr(cache, "_RELOCK_TRIES", 3)
    d = cache.artifact_dir(tmp_path, "models", {"k": 1})
    with pytest.raises(OSError, match="keeps being removed or replaced"):
        with cache.lock(d):
            pass


def test_locking_an_entry_pruned_before_makes_it_again(tmp_path):
    d = cache.artifact_dir(tmp_path, "scores", {"y": 2})
    inventory._remove(d)
    with cache.lock(d) as held:
        assert held and cache.is_locked(d) and cache.load(d / "config.json") == {"y": 2}
