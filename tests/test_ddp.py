"""Multi-process training through torchrun (DDP), on CPU with the gloo backend."""

import subprocess
import sys

import pytest

from paperlib import cache, config, train


@pytest.mark.slow  # two torchrun processes train a model
def test_torchrun_two_processes_train_one_model(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "paperlib",
        "train",
        "--profile",
        "smoke",
        "--arch",
        "resnet",
        "--epochs",
        "2",
        "--cache-dir",
        str(tmp_path),
        "--no-progress",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    cfg = config.get_profile("smoke", epochs=2).train_config("resnet")
    d = train.model_dir(cfg, tmp_path)
    blob = cache.load(d / "model.pt")
    assert [h["epoch"] for h in blob["history"]] == [1, 2]
    assert not (d / "checkpoint.pt").exists()
    # the same configuration is now a cache hit for a single process
    t = train.train_model(
        cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda *a: (_ for _ in ()).throw(AssertionError)
    )
    assert t.history == blob["history"]


def test_each_rank_draws_its_own_augmentation():
    """Two DDP ranks split one global batch (same order) but draw different crops and flips."""
    import numpy as np
    import torch

    from paperlib import config, data, train

    cfg = config.get_profile("smoke").train_config("resnet")
    one = data.load_split("synthetic", "train", per_subclass=1).subset(np.zeros(32, dtype=np.int64))  # 32 equal images
    targets = np.zeros(32, dtype=np.int64)
    out = []
    for rank in (0, 1):
        batches = data.iterate_batches(
            one,
            targets,
            batch_size=16,
            train=True,
            augment="crop_flip",
            image_size=32,
            rank=rank,
            world_size=2,
            generator=torch.Generator().manual_seed(train._epoch_seed(cfg, 0)),
            augment_generator=torch.Generator().manual_seed(train.augment_seed(cfg, 0, rank)),
        )
        out.append(torch.cat([x for x, _ in batches]))
    assert out[0].shape == out[1].shape == (16, 3, 32, 32)
    assert not torch.equal(out[0], out[1])  # equal images, so any difference is the augmentation


def test_torchrun_puts_each_rank_on_its_own_gpu(monkeypatch):
    import torch

    from paperlib import train

    monkeypatch.setenv("LOCAL_RANK", "3")
    assert train.resolve_device("cuda") == torch.device("cuda", 3)
    assert train.resolve_device("cuda:1") == torch.device("cuda", 1)  # an explicit index is kept
    assert train.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.delenv("LOCAL_RANK")
    assert train.resolve_device("cuda") == torch.device("cuda")


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    import torch

    from paperlib import train

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert train.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.resolve_device("auto") == torch.device("mps")
    assert train.resolve_device(None) == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert train.resolve_device("auto") == torch.device("cpu")
