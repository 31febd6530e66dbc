"""BYOL, Fig. 3's self-supervised model, trained by paperlib's own trainer (paperlib.byol)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from paperlib import (
    byol,
    cache,
    checkpoints,
    claims,
    config,
    data,
    models,
    names,
    testing,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: the machine is shared


def tiny_byol(**kw):
    prof = config.get_profile("smoke")
    return prof.train_config("resnet", loss="byol", **kw).replace(
        width=2, train_per_subclass=16, batch_size=32, epochs=2
    )


def tiny_backbone(seed=0):
    torch.manual_seed(seed)
    return models.build_model("resnet_mini", 4, width=2, image_size=32)


def test_names_objectives_and_the_key_of_a_model_without_labels():
    assert "byol" not in names.LOSSES and len(names.LOSSES) == 9  # chapter 07 iterates over the nine losses
    assert names.OBJECTIVES == names.LOSSES + ("byol",)
    with pytest.raises(ValueError, match=r"unknown objective 'simclr'; valid: \[.*'softmax'.*'byol'\]"):
        train.validate(config.get_profile("smoke").train_config("resnet").replace(loss="simclr"))
    with pytest.raises(ValueError, match="trains without labels; hierarchy must be 'standard'"):
        config.get_profile("smoke").train_config("resnet", loss="byol", hierarchy="subclass")
    # the shuffle seed selects nothing for a model without labels: one key whatever it is
    prof = config.get_profile("smoke")
    a, b = (prof.train_config("resnet", loss="byol", shuffle_seed=s) for s in (0, 3))
    assert a == b and a.key_dict() == b.key_dict() and "pretrained" not in a.key_dict()
    assert a.epochs == prof.byol_epochs and a.snapshot_epochs is None
    with pytest.raises(ValueError, match="pretrained is read only for a self-supervised objective"):
        prof.train_config("resnet").replace(pretrained="/x.pt")


def test_loss_by_hand_symmetric_and_bounded():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(5, 7, generator=g) for _ in range(4))

    def cos(a, b):
        return (a / a.norm(dim=1, keepdim=True) * (b / b.norm(dim=1, keepdim=True))).sum(1)

    by_hand = (2 - 2 * cos(p1, z2)).mean() + (2 - 2 * cos(p2, z1)).mean()
    torch.testing.assert_close(byol.byol_loss(p1, p2, z1, z2), by_hand)
    torch.testing.assert_close(byol.byol_loss(p2, p1, z2, z1), by_hand)  # swapping the views changes nothing
    assert float(byol.byol_loss(p1, p2, p2, p1)) == pytest.approx(0.0, abs=1e-6)  # predictions on target: zero
    assert float(byol.byol_loss(p1, p2, -p2, -p1)) == pytest.approx(8.0)  # opposite: the maximum


def test_momentum_schedule_and_update_follow_the_formula():
    k = 50
    assert byol.momentum_at(0, k) == pytest.approx(0.996) and byol.momentum_at(k - 1, k) == 1.0
    for step in (1, 17, 30):
        assert byol.momentum_at(step, k) == pytest.approx(1 - 0.004 * (math.cos(math.pi * step / (k - 1)) + 1) / 2)
    learner = byol.BYOL(tiny_backbone())
    with torch.no_grad():
        for p in learner.backbone.parameters():
            p.add_(torch.randn_like(p))  # online moved away from its copy
    online = [p.detach().clone() for p in list(learner.backbone.parameters()) + list(learner.projection.parameters())]
    before = [
        p.detach().clone()
        for p in list(learner.target_backbone.parameters()) + list(learner.target_projection.parameters())
    ]
    learner.update_target(0.9)
    after = list(learner.target_backbone.parameters()) + list(learner.target_projection.parameters())
    assert len(after) == len(online) > 0
    for t, t0, o in zip(after, before, online):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * o)


def test_target_gets_no_gradient_and_the_final_layer_none():
    learner = byol.BYOL(tiny_backbone())
    x1, x2 = torch.randn(2, 6, 3, 32, 32)
    learner(x1, x2).backward()
    for name, p in list(learner.target_backbone.named_parameters()) + list(
        learner.target_projection.named_parameters()
    ):
        assert not p.requires_grad and p.grad is None, name
    head = models.final_layer(learner.backbone)
    assert head.weight.grad is None  # BYOL trains the representation, not the classifier
    grads = [p.grad for n, p in learner.backbone.named_parameters() if not n.startswith("fc.")]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is not None for p in learner.online_heads().parameters())


def test_two_views_are_seeded_distinct_and_colour_distorted():
    split = data.load_split("synthetic", "train", per_subclass=4)
    tgt = np.zeros(len(split), dtype=np.int64)

    def views(seed):
        gens = [torch.Generator().manual_seed(seed + v) for v in (1, 2)]
        return next(
            iter(
                data.iterate_batches(
                    split,
                    tgt,
                    batch_size=16,
                    train=True,
                    augment="crop_flip",
                    image_size=32,
                    generator=torch.Generator().manual_seed(0),
                    view_generators=gens,
                )
            )
        )[0]

    a, b = views(0)
    a2, b2 = views(0)
    assert torch.equal(a, a2) and torch.equal(b, b2)  # deterministic given the seed
    assert not torch.equal(a, b) and a.dtype == torch.uint8 and a.shape == (16, 3, 32, 32)
    x = split.images[:64]
    out = data.colour_distort(x, torch.Generator().manual_seed(1), {"p_jitter": 0.0, "p_grey": 1.0})
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])  # greyscale
    same = data.colour_distort(x, torch.Generator().manual_seed(1), {"p_jitter": 0.0, "p_grey": 0.0})
    assert (same.int() - x.int()).abs().max() <= 1  # nothing drawn: the image back (up to rounding)


def test_trains_caches_reloads_and_keeps_the_supervised_state_dict(tmp_path):
    cfg = tiny_byol(seed=1)
    calls = []
    a = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == [1, 2] and all(r["train_acc"] is None and math.isfinite(r["loss"]) for r in a.history)
    blob = cache.load(train.model_dir(cfg, tmp_path) / "model.pt")
    sup = train.build_for(cfg.replace(loss="softmax"), a.hierarchy.n_superclasses)
    assert list(blob["ema_state"]) == list(sup.state_dict())  # same keys, same order
    assert [p.name for p in a.model.probe_points] == [p.name for p in sup.probe_points]
    assert blob["accuracy_of"] == byol.ACCURACY_OF == train.accuracy_of(cfg)
    assert models.final_layer(a.model).weight.abs().sum() > 0  # the readout was fitted
    assert not (train.model_dir(cfg, tmp_path) / "checkpoint.pt").exists()
    again = []
    b = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: again.append(e))
    assert again == []  # loaded, not trained
    for (k, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        torch.testing.assert_close(x, y, msg=k)
    # the reloaded model reads like any other: checkpoints strict-load it into a plain model
    state, _ = checkpoints.read_checkpoint(train.model_dir(cfg, tmp_path) / "model.pt")
    checkpoints.load_state(sup, state, "model.pt", cfg.arch)


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    cfg = tiny_byol(seed=2)
    ref = train.train_model(cfg, cache_dir=tmp_path / "a", progress=False)

    with pytest.raises(testing.Interrupted):
        train.train_model(cfg, cache_dir=tmp_path / "b", progress=False, on_epoch_end=testing.interrupt_at(1))
    state = cache.load(train.model_dir(cfg, tmp_path / "b") / "checkpoint.pt")
    assert state["epoch"] == 1 and any(k.startswith("target_backbone.") for k in state["byol"])
    assert any(k.startswith("prediction.") for k in state["byol"]) and "optimizer" in state
    resumed = []
    res = train.train_model(cfg, cache_dir=tmp_path / "b", progress=False, on_epoch_end=lambda e, r: resumed.append(e))
    assert resumed == [2]  # continued at epoch 2, did not restart
    for (k, a), (_, b) in zip(ref.model.state_dict().items(), res.model.state_dict().items()):
        torch.testing.assert_close(a, b, msg=f"{k} differs after resume")
    assert ref.history == res.history


def test_a_user_checkpoint_replaces_training_and_is_read_safely(tmp_path):
    src = tiny_backbone(seed=5)
    good = tmp_path / "byol_r.pt"
    torch.save(
        {"state_dict": {f"backbone.{k}": v for k, v in src.state_dict().items() if not k.startswith("fc.")}}, good
    )
    cfg = tiny_byol().replace(pretrained=str(good))
    assert cfg.key_dict()["pretrained"] == str(good) and "pretrained" in train.model_key(cfg)
    calls = []
    t = train.train_model(cfg, cache_dir=tmp_path / "c", progress=False, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == [] and t.history == []
    for k, v in src.state_dict().items():
        if not k.startswith("fc."):
            torch.testing.assert_close(t.model.state_dict()[k], v, msg=k)
    assert models.final_layer(t.model).weight.abs().sum() > 0  # readout fitted on top
    pickled = tmp_path / "module.pt"
    torch.save(src, pickled)  # a whole pickled module: loading it would run code
    with pytest.raises(checkpoints.CheckpointError, match=r"refusing checkpoint .*module\.pt.*trust"):
        train.train_model(tiny_byol().replace(pretrained=str(pickled)), cache_dir=tmp_path / "d", progress=False)
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv9.weight": torch.zeros(1)}, wrong)
    with pytest.raises(checkpoints.CheckpointError, match=r"wrong\.pt does not fit"):
        train.train_model(tiny_byol().replace(pretrained=str(wrong)), cache_dir=tmp_path / "e", progress=False)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        train.train_model(tiny_byol().replace(pretrained=str(tmp_path / "missing.pt")), cache_dir=tmp_path / "f")


def test_claim3_leaves_byol_out_and_the_context_states_it():
    rows = []
    for training, loss, purity in (
        ("standard", "softmax", 0.50),
        ("subclass", "softmax", 0.52),
        ("byol", "byol", 0.60),
    ):
        for f in (1, 2):
            rows.append(
                {
                    "arch": "r",
                    "hierarchy": "subclass" if training == "subclass" else "standard",
                    "seed": 0,
                    "set": "s",
                    "factor": f,
                    "purity": purity,
                    "loss": loss,
                    "training": training,
                }
            )
    ood = pd.DataFrame(rows)
    acc = pd.DataFrame(
        [
            {
                "arch": "r",
                "hierarchy": "standard",
                "seed": 0,
                "loss": "softmax",
                "training": "standard",
                "accuracy": 0.9,
                "accuracy_of": "classifier",
                "n_superclasses": 4,
            },
            {
                "arch": "r",
                "hierarchy": "subclass",
                "seed": 0,
                "loss": "softmax",
                "training": "subclass",
                "accuracy": 0.9,
                "accuracy_of": "classifier",
                "n_superclasses": 16,
            },
            {
                "arch": "r",
                "hierarchy": "standard",
                "seed": 0,
                "loss": "byol",
                "training": "byol",
                "accuracy": 0.3,
                "accuracy_of": byol.ACCURACY_OF,
                "n_superclasses": 4,
            },
        ]
    )
    with_byol = claims.transfer(ood, acc)
    without = claims.transfer(ood[ood["loss"] != "byol"], acc[acc["loss"] != "byol"])
    assert with_byol.verdict == without.verdict == "reproduced" and with_byol.measured == without.measured
    text = claims.self_supervised_context(ood, acc)
    assert "BYOL reaches 0.600" in text and "0.500 with superclass labels" in text and "above every supervised" in text
    assert "linear readout" in text and "0.300" in text
    assert "No self-supervised model" in claims.self_supervised_context(ood[ood["loss"] != "byol"], acc)


def test_readout_recovers_a_linear_rule():
    model = tiny_backbone()
    model.eval()
    torch.manual_seed(0)
    xs = torch.randn(256, 3, 32, 32)
    feats = byol.penultimate(model, xs)
    w = torch.randn(feats.shape[1], 4)
    y = ((feats - feats.mean(0)) @ w).argmax(1)  # a linear rule with a bias, every class used
    byol.fit_readout(model, [(xs[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)], 4)
    acc = float((model(xs).argmax(1) == y).float().mean())
    assert acc > 0.7  # least squares on one-hot labels of a linear rule
    assert F.one_hot(y, 4).float().mean(0).max() < 0.9  # not one class


def test_context_calls_a_tie_level_not_above():
    rows = [
        {"arch": "r", "hierarchy": h, "seed": 0, "set": "s", "factor": 1, "purity": p, "loss": loss, "training": t}
        for t, h, loss, p in (
            ("standard", "standard", "softmax", 1.0),
            ("subclass", "subclass", "softmax", 0.8),
            ("byol", "standard", "byol", 1.0),
        )
    ]
    acc = pd.DataFrame([{"arch": "r", "training": "byol", "accuracy": 0.4, "accuracy_of": byol.ACCURACY_OF}])
    text = claims.self_supervised_context(pd.DataFrame(rows), acc)
    assert "above the model trained on subclass labels; level with the model trained on superclass labels" in text
    tie = pd.DataFrame([{**r, "purity": 1.0} for r in rows])
    assert "level with every supervised model (within 0.01)" in claims.self_supervised_context(tie, acc)


def test_every_cache_key_of_a_checkpoint_model_follows_the_files_content(tmp_path):
    from paperlib import experiment, probe, transfer

    f = tmp_path / "byol_r.pt"
    cfg = tiny_byol().replace(pretrained=str(f))
    prof = config.get_profile("smoke")
    ecfg = prof.eval_config((1,), "flatten", True)
    ood = data.load_split("synthetic", "val", per_subclass=1)

    def keys():
        return [
            cache.key_of(k)
            for k in (
                train.model_key(cfg),
                experiment.scores_key(cfg, ecfg),
                probe.probe_key(cfg, ecfg, probe.ProbeConfig(), ["penultimate"]),
                transfer.transfer_key(cfg, "synthetic_novel", ood, None, (1,)),
            )
        ]

    torch.save({k: v for k, v in tiny_backbone(seed=1).state_dict().items()}, f)
    first = keys()
    torch.save({k: v for k, v in tiny_backbone(seed=2).state_dict().items()}, f)  # same path, other weights
    second = keys()
    assert all(a != b for a, b in zip(first, second)), (first, second)
    assert len(set(first)) == 4


def _grey_noise(n=400, side=32, seed=0):
    return torch.randint(0, 256, (n, 3, side, side), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_grill_views_are_lightly_s_byol_transform_numbers():
    # Grill et al. 2020 Table 6, as lightly's BYOLView1Transform / BYOLView2Transform defaults
    v1, v2 = (dict(data.COLOUR_DISTORTION, **o) for o in data.BYOL_VIEWS["grill"])
    for v in (v1, v2):
        assert (v["p_jitter"], v["brightness"], v["contrast"], v["saturation"], v["hue"]) == (0.8, 0.4, 0.4, 0.2, 0.1)
        assert v["p_grey"] == 0.2 and tuple(v["blur_sigma"]) == (0.1, 2.0)
    assert (v1["p_blur"], v1["p_solarize"], v2["p_blur"], v2["p_solarize"]) == (1.0, 0.0, 0.1, 0.2)
    assert data.BYOL_VIEWS["colour"] == ({}, {})
    assert config.get_profile("paper").train_config("resnet", loss="byol").byol_views == "grill"
    assert config.get_profile("smoke").train_config("resnet", loss="byol").byol_views == "colour"
    assert config.get_profile("paper").train_config("resnet").byol_views == "colour"  # supervised: never read


def test_byol_views_key_and_validation():
    cfg = tiny_byol()
    assert "byol_views" not in cfg.key_dict()  # the views BYOL models had before the field: keys unchanged
    assert cfg.replace(byol_views="grill").key_dict()["byol_views"] == "grill"
    with pytest.raises(ValueError, match="BYOL views"):
        cfg.replace(byol_views="simclr")
    with pytest.raises(ValueError, match="byol_views"):
        config.TrainConfig(loss="softmax", byol_views="grill")


def test_blur_and_solarisation_apply_with_their_probabilities():
    x = _grey_noise()
    # sigma from [1, 2]: a blur below ~0.5 pixel can round back to the same uint8 image, which would hide it
    off = {"p_jitter": 0.0, "p_grey": 0.0, "blur_sigma": (1.0, 2.0)}
    g = torch.Generator
    base = data.colour_distort(x, g().manual_seed(0), off)
    # p 0 draws nothing: the same batch as the distortion without the new steps
    assert torch.equal(base, data.colour_distort(x, g().manual_seed(0), {**off, "p_blur": 0.0, "p_solarize": 0.0}))
    blurred = data.colour_distort(x, g().manual_seed(0), {**off, "p_blur": 1.0})
    changed = (blurred != base).flatten(1).any(1)
    assert changed.all()  # blur on every image
    # blurring lowers the pixel-to-pixel variation of noise
    assert blurred.float().diff(dim=-1).abs().mean() < base.float().diff(dim=-1).abs().mean()
    for p in (0.1, 0.2):
        frac = (data.colour_distort(x, g().manual_seed(1), {**off, "p_blur": p}) != base).flatten(1).any(1)
        assert abs(frac.float().mean().item() - p) < 0.05  # 400 images: 3 standard errors is 0.045 at p 0.2
        sol = data.colour_distort(x, g().manual_seed(2), {**off, "p_solarize": p})
        hit = (sol != base).flatten(1).any(1)
        assert abs(hit.float().mean().item() - p) < 0.05
        # a solarised image: values >= 128 inverted (PIL's ImageOps.solarize), the rest kept
        want = torch.where(base >= 128, 255 - base, base)
        assert torch.equal(sol[hit], want[hit]) and torch.equal(sol[~hit], base[~hit])


def test_blur_keeps_a_constant_image_and_matches_a_hand_convolution():
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    out = data.colour_distort(flat, torch.Generator().manual_seed(0), {"p_jitter": 0.0, "p_grey": 0.0, "p_blur": 1.0})
    assert torch.equal(out, flat)  # a normalised kernel with reflected borders keeps a flat image
    k = data.gaussian_kernels(torch.tensor([1.5]), 5)[0]
    t = torch.arange(5.0) - 2
    assert torch.allclose(k, torch.exp(-(t**2) / (2 * 1.5**2)) / torch.exp(-(t**2) / (2 * 1.5**2)).sum())
    with pytest.raises(ValueError, match="odd"):
        data.gaussian_kernels(torch.tensor([1.0]), 4)
    # one impulse in the middle of a 224 image, sigma drawn from [s, s]: the response is the outer product
    img = torch.zeros(1, 3, 224, 224, dtype=torch.uint8)
    img[..., 112, 112] = 255
    out = data.colour_distort(
        img, torch.Generator().manual_seed(0), {"p_jitter": 0, "p_grey": 0, "p_blur": 1.0, "blur_sigma": (2.0, 2.0)}
    )
    k23 = data.gaussian_kernels(torch.tensor([2.0]), 23)[0]
    want = (255 * torch.outer(k23, k23)).round()
    assert torch.allclose(out[0, 0, 101:124, 101:124].float(), want, atol=1)
    assert out[0, 0].sum() > 0 and out[0, 0, :90].sum() == 0  # kernel 23 at 224: nothing beyond 11 pixels


def test_grill_views_through_iterate_batches_are_seeded():
    split = data.load_split("synthetic", "train", per_subclass=4)
    tgt = np.zeros(len(split), dtype=np.int64)

    def views(params):
        gens = [torch.Generator().manual_seed(v) for v in (1, 2)]
        kw = dict(batch_size=16, train=True, augment="crop_flip", image_size=32)
        it = data.iterate_batches(
            split, tgt, generator=torch.Generator().manual_seed(0), view_generators=gens, view_params=params, **kw
        )
        return next(iter(it))[0]

    a, b = views(data.BYOL_VIEWS["grill"])
    a2, b2 = views(data.BYOL_VIEWS["grill"])
    c, d = views(data.BYOL_VIEWS["colour"])
    assert torch.equal(a, a2) and torch.equal(b, b2) and a.shape == (16, 3, 32, 32) and a.dtype == torch.uint8
    assert not torch.equal(a, c)  # the first view is always blurred
    assert torch.equal((c, d)[0], views(None)[0])  # "colour" is the distortion without overrides
    with pytest.raises(ValueError, match="one dict per view"):
        views([{}])
