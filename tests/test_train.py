import math
import re

import pytest
import torch

from paperlib import cache, config, testing, train


def tiny(**kw):
    prof = config.get_profile("smoke", epochs=3)
    return prof.train_config("resnet", **kw).replace(width=2, train_per_subclass=16, batch_size=32)


def test_lr_schedule():
    lrs = [train.lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))  # warm-up rises
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # cosine falls
    assert lrs[10] == pytest.approx(1.0)  # cosine starts at the base rate
    assert lrs[-1] > 0 and lrs[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))  # no step at lr 0
    assert lrs[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))


def test_ema_bias_correction_recovers_constant_weights():
    m = torch.nn.Linear(3, 2)
    ema = train.EMA(m, 0.99)
    for _ in range(3):
        ema.update(m)
    state = ema.state_dict_for(m)
    torch.testing.assert_close(state["weight"], m.weight.detach())


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    cfg = tiny(seed=1)
    ref = train.train_model(cfg, cache_dir=tmp_path / "a", progress=False)

    with pytest.raises(testing.Interrupted):
        train.train_model(cfg, cache_dir=tmp_path / "b", progress=False, on_epoch_end=testing.interrupt_at(1))
    ckpt = train.model_dir(cfg, tmp_path / "b") / "checkpoint.pt"
    assert cache.is_valid(ckpt) and cache.load(ckpt)["epoch"] == 1
    resumed_epochs = []
    res = train.train_model(
        cfg, cache_dir=tmp_path / "b", progress=False, on_epoch_end=lambda e, r: resumed_epochs.append(e)
    )
    assert resumed_epochs == [2, 3]  # continued, did not restart
    for (k, a), (_, b) in zip(ref.model.state_dict().items(), res.model.state_dict().items()):
        torch.testing.assert_close(a, b, msg=f"{k} differs after resume")
    assert ref.history == res.history


def test_cache_hit_does_not_train_and_seed_matters(tmp_path):
    cfg = tiny(seed=2)
    a = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    calls = []
    b = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == []
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        torch.testing.assert_close(x, y)
    c = train.train_model(tiny(seed=3), cache_dir=tmp_path, progress=False)
    assert not torch.equal(c.model.fc.weight, a.model.fc.weight)


def test_corrupt_checkpoint_is_not_used(tmp_path):
    cfg = tiny(seed=4)
    d = train.model_dir(cfg, tmp_path)
    (d / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        t = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    assert len(t.history) == 3


def test_bad_inputs_fail_before_compute(tmp_path):
    with pytest.raises(ValueError, match="resnet_mini"):
        train.train_model(tiny().replace(arch="resnet99"), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="softmax"):
        train.train_model(tiny().replace(loss="hinge"), cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        train.train_model(tiny().replace(dataset="cifar100"), data_root=tmp_path, cache_dir=tmp_path)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*.pt"))


def test_snapshots_keep_the_ema_weights_of_chosen_epochs(tmp_path):
    plain = tiny(seed=5).replace(snapshot_epochs=None)  # smoke keeps snapshots by default
    cfg = plain.replace(snapshot_epochs=(3, 1))
    assert cfg.snapshot_epochs == (1, 3)  # sorted
    # the key changes only when snapshots are asked for: a plain model keeps its key
    assert "snapshot_epochs" not in plain.key_dict() and cfg.key_dict()["snapshot_epochs"] == (1, 3)
    assert train.model_dir(plain, tmp_path) != train.model_dir(cfg, tmp_path)
    full = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    last = train.load_snapshot(full, 3)
    for k, v in full.model.state_dict().items():  # the last epoch's snapshot is the final EMA model
        torch.testing.assert_close(last.model.state_dict()[k], v, msg=k)
    first = train.load_snapshot(full, 1)
    assert first.epoch == 1 and len(first.history) == 1 and first.history[0] == full.history[0]
    assert not torch.equal(first.model.fc.weight, full.model.fc.weight)
    with pytest.raises(ValueError, match="no snapshot at epoch 2"):
        train.load_snapshot(full, 2)
    from paperlib import experiment

    ecfg = config.EvalConfig(factors=(1,))
    assert experiment.scores_key(cfg, ecfg, epoch=1) != experiment.scores_key(cfg, ecfg)
    for bad in ((0,), (4,), (), "1"):
        with pytest.raises(ValueError, match="snapshot_epochs"):
            plain.replace(snapshot_epochs=bad)


def test_a_diverging_run_stops_at_once_and_caches_nothing(tmp_path):
    """lr a million times the profile's: the loss is not finite within the first epoch; the error names
    the model, the epoch and the learning rate, and the cache holds no model, checkpoint or snapshot."""
    cfg = tiny(seed=4)
    cfg = cfg.replace(lr=cfg.lr * 1e6, snapshot_epochs=(1, 2, 3))
    assert cfg.grad_clip == 2.0  # the profile's clipping does not save it, only delays it
    epochs_done = []
    with pytest.raises(
        train.NonFiniteLoss,
        match=r"resnet_mini .*diverged: the loss is not finite at step (\d+) "
        r"\(epoch (\d) of 3\).*learning rate",
    ) as err:
        train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: epochs_done.append(e))
    step = int(re.search(r"at step (\d+)", str(err.value)).group(1))
    assert len(epochs_done) < 3 and step <= (len(epochs_done) + 1) * (16 * 16 // 32)  # stopped in the epoch it diverged
    path = train.model_dir(cfg, tmp_path, create=False)
    assert not list(path.glob("*.pt")) and not (path / train.PROGRESS).exists()
    # the same configuration asked again diverges again: nothing diverged was served from the cache
    with pytest.raises(train.NonFiniteLoss):
        train.train_model(cfg, cache_dir=tmp_path, progress=False)


def test_gradient_clipping_is_in_the_key_only_when_set():
    cfg = tiny().replace(grad_clip=None)
    assert "grad_clip" not in cfg.key_dict() and cfg.replace(grad_clip=1.0).key_dict()["grad_clip"] == 1.0
    with pytest.raises(ValueError, match="grad_clip"):
        cfg.replace(grad_clip=0)


def test_non_finite_embeddings_are_refused_before_clustering():
    import numpy as np

    from paperlib import data, extract, scoring

    model = train.build_for(tiny(), 4).eval()
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))  # the logits; the probe points before it stay finite
        next(model.parameters()).fill_(float("nan"))  # the first layer: every probe point after it is nan
    split = data.load_split("synthetic", "val", per_subclass=4)
    h = data.hierarchy_for("synthetic", "standard")
    with pytest.raises(ValueError, match=r"model resnet_mini: the embeddings .* non-finite values .* stage1_block1"):
        scoring.score_layers(model, split, h, [1])
    emb, _ = extract.extract(train.build_for(tiny(), 4).eval(), split, layers=["penultimate"])
    assert np.isfinite(emb["penultimate"]).all()  # a sound model passes


def test_progress_never_runs_ahead_of_the_checkpoint(tmp_path, monkeypatch):
    """A checkpoint that cannot be written (a full disk) leaves progress.json at the epoch the checkpoint holds."""
    import errno

    cfg = tiny(seed=5)
    real_save = cache.save

    def full_after_epoch_1(path, obj):
        if str(path).endswith("checkpoint.pt") and obj.get("epoch", 0) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(path, obj)

    monkeypatch.setattr(cache, "save", full_after_epoch_1)
    seen = []
    with pytest.warns(UserWarning):
        with pytest.raises(testing.Interrupted):
            train.train_model(
                cfg,
                cache_dir=tmp_path,
                progress=False,
                on_epoch_end=lambda e, r: (seen.append(e), testing.interrupt_at(3)(e, r)),
            )
    path = train.model_dir(cfg, tmp_path, create=False)
    assert seen == [1, 2, 3]
    assert cache.load(path / "checkpoint.pt")["epoch"] == 1 and train.progress_of(path)["epoch"] == 1


def test_recipe_is_in_the_key_only_when_not_the_default_and_sets_the_fig6_models():
    cfg = tiny()
    assert cfg.recipe == "nguyen" and "recipe" not in cfg.key_dict()  # models trained before the field keep their key
    k = cfg.replace(recipe="kornblith")
    assert k.key_dict()["recipe"] == "kornblith" and cache.key_of(k) != cache.key_of(cfg)
    with pytest.raises(ValueError, match="recipe"):
        cfg.replace(recipe="hui")
    prof = config.get_profile("smoke")
    fig6 = config.experiment_configs(prof, "fig6_losses")
    fig4 = config.experiment_configs(prof, "fig4_squared_error")
    assert {c.recipe for c in fig6} == {"kornblith"} and {c.recipe for c in fig4} == {"nguyen"}
    assert {c.weight_decay for c in fig6} == {config.KORNBLITH_WEIGHT_DECAY}
    assert {c.weight_decay for c in fig4} == {1e-4}
    # Fig. 6's squared error trains at the common rate (its loss is scaled instead); Figs. 4/5's at the paper's 0.001
    se6 = next(c for c in fig6 if c.loss == "squared_error")
    sm6 = next(c for c in fig6 if c.loss == "softmax")
    assert se6.lr == sm6.lr * prof.loss_lr_scale.get("squared_error/kornblith", 1.0)
    paper = config.get_profile("paper")
    assert paper.train_config("resnet", loss="squared_error").lr == 0.001
    assert paper.train_config("resnet", loss="squared_error", recipe="kornblith").lr == paper.train_config("resnet").lr


def test_kornblith_weight_decay_leaves_out_norm_parameters_and_biases():
    # load_model.py: 8e-5 * l2_loss on every variable named neither 'batch_normalization' nor 'bias'
    cfg = tiny().replace(recipe="kornblith", weight_decay=config.KORNBLITH_WEIGHT_DECAY)
    model = train.build_for(cfg, 4)
    opt = train._optimizer(cfg, model)
    by_name = {id(p): n for n, p in model.named_parameters()}
    decayed = [by_name[id(p)] for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]]
    kept = [by_name[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]]
    assert {g["weight_decay"] for g in opt.param_groups} == {config.KORNBLITH_WEIGHT_DECAY, 0.0}
    norms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)}
    assert norms and all(n.rsplit(".", 1)[0] in norms or n.endswith("bias") for n in kept)
    assert all(n.rsplit(".", 1)[0] in norms for n in kept if not n.endswith("bias"))
    assert not any(n.endswith("bias") or n.rsplit(".", 1)[0] in norms for n in decayed)
    assert "fc.weight" in decayed and "fc.bias" in kept
