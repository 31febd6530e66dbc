"""Multi-process training through torchrun (DDP), on CPU with the gloo backend."""

import subprocess
import sys

from paperlib import cache, config, train


def test_torchrun_two_processes_train_one_model(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "paperlib", "train", "--profile", "smoke", "--arch", "resnet", "--epochs", "2",
           "--cache-dir", str(tmp_path), "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    cfg = config.get_profile("smoke", epochs=2).train_config("resnet")
    d = train.model_dir(cfg, tmp_path)
    blob = cache.load(d / "model.pt")
    assert [h["epoch"] for h in blob["history"]] == [1, 2]
    assert not (d / "checkpoint.pt").exists()
    # the same configuration is now a cache hit for a single process
    t = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda *a: (_ for _ in ()).throw(AssertionError))
    assert t.history == blob["history"]
