"""Tests of :mod:`paperlib.models`: shapes, probe points, hooks, initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paperlib import models
from paperlib.models import ARCHITECTURES, ProbePoint, build_model, param_groups, probe_points

MINI = ("resnet_mini", "vgg_mini", "vgg_mini_bn", "vgg_mini_ln")
PAPER = ("resnet50", "vgg16", "vgg16_bn", "vgg16_ln", "vit_b_32")

RESNET50_NAMES = [f"stage{s}_block{b}" for s, n in zip(range(1, 5), (3, 4, 6, 3)) for b in range(1, n + 1)]
RESNET_MINI_NAMES = [f"stage{s}_block{b}" for s in range(1, 5) for b in (1, 2)]
VGG_NAMES = [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)]
VGG_NAMES += ["fc6", "fc7"]
VIT_NAMES = [f"block{i}_{part}" for i in range(1, 13) for part in ("attn", "mlp")]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _run_with_hooks(model: nn.Module, x: torch.Tensor):
    """Forward ``x`` once with a hook at every probe point; return logits and captures."""
    modules = dict(model.named_modules())
    calls: dict[str, list[torch.Tensor]] = {p.name: [] for p in model.probe_points}
    handles = []
    for p in model.probe_points:
        mod = modules[p.module]
        if p.where == "input":
            hook = mod.register_forward_pre_hook(lambda m, a, p=p: calls[p.name].append(a[0]))
        else:
            hook = mod.register_forward_hook(lambda m, a, out, p=p: calls[p.name].append(out))
        handles.append(hook)
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return logits, calls


def _classifier(model: nn.Module) -> nn.Linear:
    if model.arch.startswith("resnet"):
        return model.fc
    if model.arch.startswith("vit"):
        return model.head
    return model.classifier[-1]


def _check_common(model: nn.Module, arch: str, x: torch.Tensor, num_classes: int):
    assert model.arch == arch
    assert model.probe_points == probe_points(arch)
    assert len({p.name for p in model.probe_points}) == len(model.probe_points)
    modules = dict(model.named_modules())
    for p in model.probe_points:
        assert p.module in modules, f"{arch}: missing probe module {p.module}"
    model.eval()
    logits, calls = _run_with_hooks(model, x)
    assert logits.shape == (x.shape[0], num_classes)
    for name, outs in calls.items():
        assert len(outs) == 1, f"{arch}: hook {name} fired {len(outs)} times"
        assert outs[0].shape[0] == x.shape[0]
    # The last probe point is the classifier's 2-D input.
    last = calls[model.probe_points[-1].name][0]
    head = _classifier(model)
    assert last.flatten(1).shape[1] == head.in_features
    # Zero-initialised classifier -> all-zero logits.
    assert torch.count_nonzero(head.weight) == 0 and torch.count_nonzero(head.bias) == 0
    assert torch.count_nonzero(logits) == 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert m.momentum == pytest.approx(0.01)
        if isinstance(m, nn.ReLU):
            assert not m.inplace
    return calls


@pytest.mark.parametrize("arch", MINI)
def test_mini_models(arch):
    model = build_model(arch, num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    calls = _check_common(model, arch, x, 7)
    names = [p.name for p in model.probe_points]
    if arch == "resnet_mini":
        assert names == RESNET_MINI_NAMES + ["penultimate"]
        assert calls["stage1_block1"][0].shape == (2, 16, 32, 32)
        assert calls["stage4_block2"][0].shape == (2, 128, 4, 4)
        assert calls["penultimate"][0].shape == (2, 128)
    else:
        assert names == VGG_NAMES
        assert calls["conv1_1"][0].shape == (2, 8, 32, 32)
        assert calls["conv5_3"][0].shape == (2, 64, 2, 2)
        assert calls["fc6"][0].shape == (2, 128)
        assert calls["fc7"][0].shape == (2, 128)
        # post-ReLU
        assert (calls["conv3_2"][0] >= 0).all() and (calls["fc6"][0] >= 0).all()
    # One training step works and moves the weights.
    model.train()
    opt = torch.optim.SGD(param_groups(model, 1e-4), lr=0.1, momentum=0.9)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    loss.backward()
    opt.step()
    assert torch.count_nonzero(_classifier(model).weight) > 0


def test_mini_width_and_image_size():
    model = build_model("resnet_mini", 5, width=8)
    assert model.fc.in_features == 64
    model = build_model("vgg_mini", 5, width=4, image_size=64)
    assert model.classifier[0].in_features == 32 * 2 * 2
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)
    assert models.default_image_size("vgg_mini") == 32
    assert models.default_image_size("resnet50") == 224


def test_vgg_norm_layers():
    bn = build_model("vgg_mini_bn", 3)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 13
    assert sum(isinstance(m, nn.BatchNorm1d) for m in bn.modules()) == 2
    ln = build_model("vgg_mini_ln", 3)
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in ln.modules()) == 13
    assert sum(type(m) is nn.LayerNorm for m in ln.modules()) == 2
    # A conv layer norm normalises each example over all its channels and positions (Ba et al.),
    # not each position over its channels.
    norm = ln.features[1]
    y = norm(torch.randn(2, 8, 5, 5) * 3 + 1)
    assert torch.allclose(y.mean((1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y.var((1, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)
    assert not torch.allclose(y.mean(1), torch.zeros(2, 5, 5), atol=1e-2)
    plain = build_model("vgg_mini", 3)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)) for m in plain.modules())


def test_small_layer_norm_vgg_standardises_its_convolutions_and_nothing_else_does():
    ln = build_model("vgg_mini_ln", 3)
    convs = [m for m in ln.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and all(type(m) is models.WSConv2d for m in convs)
    for arch in ("vgg_mini", "vgg_mini_bn"):
        assert all(type(m) is nn.Conv2d for m in build_model(arch, 3).modules() if isinstance(m, nn.Conv2d))
    with torch.device("meta"):
        paper = build_model("vgg16_ln", 3)
    assert all(type(m) is nn.Conv2d for m in paper.modules() if isinstance(m, nn.Conv2d))
    # Same parameters as a plain convolution; the forward uses each filter standardised over
    # (in_channels, kh, kw): checked against a convolution whose weights are standardised by hand (numpy).
    conv = convs[2]  # conv2_1: 8 -> 16 channels
    assert {k: v.shape for k, v in conv.state_dict().items()} == {"weight": (16, 8, 3, 3), "bias": (16,)}
    with torch.no_grad():
        conv.weight.mul_(3).add_(0.5)
        conv.bias.normal_()
    w = conv.weight.detach().numpy().reshape(16, -1)
    w_std = (w - w.mean(1, keepdims=True)) / (w.std(1, keepdims=True) + conv.eps)
    ref = nn.Conv2d(8, 16, 3, padding=1)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(w_std.reshape(16, 8, 3, 3)))
        ref.bias.copy_(conv.bias)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(conv(x), ref(x), atol=1e-5, rtol=1e-5)
    # A constant input gives the bias alone away from the border (a zero-mean filter has no DC response).
    y = conv(torch.ones(1, 8, 6, 6)) - conv.bias.view(1, -1, 1, 1)
    assert y[..., 1:-1, 1:-1].abs().max() < 1e-4


def test_resnet50():
    model = build_model("resnet50", 13)
    assert [p.name for p in model.probe_points] == RESNET50_NAMES + ["penultimate"]
    assert len(RESNET50_NAMES) == 16
    calls = _check_common(model, "resnet50", torch.randn(1, 3, 224, 224), 13)
    assert calls["stage1_block1"][0].shape == (1, 256, 56, 56)
    assert calls["stage4_block3"][0].shape == (1, 2048, 7, 7)
    assert calls["penultimate"][0].shape == (1, 2048)


def test_vgg16():
    model = build_model("vgg16", 13)
    assert [p.name for p in model.probe_points] == VGG_NAMES
    # Same parameter layout as torchvision's VGG-16.
    from torchvision.models import vgg16

    with torch.device("meta"):  # layout only, skip the slow random init
        ref = vgg16(weights=None, num_classes=13)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    calls = _check_common(model, "vgg16", torch.randn(1, 3, 224, 224), 13)
    assert calls["conv1_1"][0].shape == (1, 64, 224, 224)
    assert calls["conv5_3"][0].shape == (1, 512, 14, 14)
    assert calls["fc6"][0].shape == (1, 4096)
    assert calls["fc7"][0].shape == (1, 4096)


@pytest.mark.parametrize("arch", ["vgg16_bn", "vgg16_ln"])
def test_vgg16_normalised(arch):
    model = build_model(arch, 13)
    assert [p.name for p in model.probe_points] == VGG_NAMES
    modules = dict(model.named_modules())
    for p in model.probe_points:
        assert isinstance(modules[p.module], nn.ReLU)
    norm_cls = nn.BatchNorm1d if arch.endswith("bn") else nn.LayerNorm
    assert isinstance(model.classifier[1], norm_cls)
    assert model.classifier[-1].in_features == 4096
    # 64 px keeps this cheap; the adaptive 7x7 pooling makes fc6 see the same shape.
    calls = _check_common(model, arch, torch.randn(2, 3, 64, 64), 13)
    assert calls["conv5_3"][0].shape == (2, 512, 4, 4)
    assert calls["fc7"][0].shape == (2, 4096)


def test_vit_b_32():
    model = build_model("vit_b_32", 13)
    assert [p.name for p in model.probe_points] == VIT_NAMES + ["penultimate"]
    # Average pooling, no class token (Table G.1 "ViT-B/32 (average pooling)").
    assert model.cls_token is None and model.num_prefix_tokens == 0
    calls = _check_common(model, "vit_b_32", torch.randn(2, 3, 224, 224), 13)
    assert calls["block1_attn"][0].shape == (2, 49, 768)  # 7 x 7 patch tokens only
    assert calls["block12_mlp"][0].shape == (2, 49, 768)
    assert calls["penultimate"][0].shape == (2, 768)
    # The head reads the mean of the 49 patch tokens after the final layer norm (fc_norm is the
    # identity): penultimate == norm(block12_mlp).mean over tokens.
    assert isinstance(model.fc_norm, nn.Identity) and isinstance(model.norm, nn.LayerNorm)
    with torch.no_grad():
        pooled = model.norm(calls["block12_mlp"][0]).mean(1)
    torch.testing.assert_close(calls["penultimate"][0], pooled, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(calls["penultimate"][0], model.norm(calls["block12_mlp"][0][:, 0]), atol=1e-3)
    # block{i}_mlp of block i is the input of the next block's attention branch
    # and block{i}_attn differs from it (the attention residual was added).
    assert not torch.equal(calls["block1_attn"][0], calls["block1_mlp"][0])
    groups = {g["name"]: g for g in param_groups(model, 0.1)}
    no_decay_ids = {id(p) for p in groups["no_decay"]["params"]}
    assert id(model.pos_embed) in no_decay_ids
    assert id(model.blocks[0].attn.qkv.weight) not in no_decay_ids


VIT_MINI_NAMES = [f"block{i}_{part}" for i in range(1, 7) for part in ("attn", "mlp")] + ["penultimate"]


def test_vit_mini():
    from paperlib.extract import ProbeRecorder, pool_activation

    model = build_model("vit_mini", 7)
    assert model.embed_dim == 64 and len(model.blocks) == 6 and model.blocks[0].attn.num_heads == 4
    assert [p.name for p in model.probe_points] == VIT_MINI_NAMES  # 2 * depth + 1
    assert model.probe_points[:2] == (
        ProbePoint("block1_attn", "blocks.0.norm2", "input"),
        ProbePoint("block1_mlp", "blocks.0"),
    )
    # As vit_b_32: no class token, the head reads the mean of the normalised patch tokens.
    assert model.cls_token is None and model.num_prefix_tokens == 0
    assert isinstance(model.fc_norm, nn.Identity) and isinstance(model.norm, nn.LayerNorm)
    x = torch.randn(3, 3, 32, 32)
    calls = _check_common(model, "vit_mini", x, 7)  # zero head, each hook fires once, (3, 7) logits
    assert calls["block1_attn"][0].shape == (3, 64, 64)  # 8 x 8 patch tokens of 4 x 4 pixels
    with ProbeRecorder(model, model.probe_points) as rec, torch.no_grad():
        assert model(x).shape == (3, 7)
    assert rec.calls == {n: 1 for n in VIT_MINI_NAMES}
    for name in VIT_MINI_NAMES[:-1]:
        assert rec.activations[name].shape == (3, 64, 64)
        assert pool_activation(rec.activations[name], "avg").shape == (3, 64)
    assert rec.activations["penultimate"].shape == (3, 64)
    with torch.no_grad():
        pooled = model.norm(rec.activations["block6_mlp"]).mean(1)
    torch.testing.assert_close(rec.activations["penultimate"], pooled, rtol=1e-5, atol=1e-5)
    # Weight decay spares the position embedding, the norms and the biases.
    groups = {g["name"]: {id(p) for p in g["params"]} for g in param_groups(model, 0.1)}
    for p in (model.pos_embed, model.norm.weight, model.blocks[0].norm1.weight, model.blocks[0].attn.qkv.bias):
        assert id(p) in groups["no_decay"]
    for p in (model.patch_embed.proj[0].weight, model.blocks[0].attn.qkv.weight, model.head.weight):
        assert id(p) in groups["decay"]
    # the early-convolution stem: one token per 4x4 patch, from three 3x3 convolutions
    assert isinstance(model.patch_embed, models.ConvStem) and model.patch_embed(x).shape == (3, 64, 64)


def test_vit_mini_width_and_image_size():
    model = build_model("vit_mini", 5, width=32, image_size=48)
    assert model.embed_dim == 32 and model.head.in_features == 32
    assert model.pos_embed.shape == (1, 12 * 12, 32)
    assert model(torch.randn(2, 3, 48, 48)).shape == (2, 5)
    assert probe_points("vit_mini", width=32) == model.probe_points
    assert models.default_image_size("vit_mini") == 32
    with pytest.raises(ValueError, match="divisible by 4; got 30"):
        build_model("vit_mini", 5, image_size=30)
    with pytest.raises(ValueError, match="4 attention heads"):
        build_model("vit_mini", 5, width=30)


def test_vit_mini_learns_on_the_smoke_profile():
    """The smoke profile's ViT (AdamW at the paper's lr, weight decay 0.1) fits 64 smoke images in
    150 full-batch steps: the model and its optimiser can learn shapes (the chapters state how well it
    generalises)."""
    from paperlib import config, data, train

    torch.manual_seed(0)
    cfg = config.get_profile("smoke").train_config("vit", hierarchy="shuffled")
    assert (cfg.arch, cfg.width, cfg.optimizer, cfg.weight_decay, cfg.lr) == ("vit_mini", 32, "adamw", 0.1, 1e-3)
    split = data.load_split("synthetic", "train", per_subclass=4)
    y = torch.as_tensor(data.hierarchy_for("synthetic", "shuffled").superclass_labels(split.subclass))
    x = data.model_input(split.images, "synthetic", torch.device("cpu"))
    model = train.build_for(cfg, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # training mode: the stem's batch norm on the batch it fits, not on running statistics
        assert (model(x).argmax(1) == y).float().mean() > 0.95


def test_probe_points_pure():
    for arch in ARCHITECTURES:
        pts = probe_points(arch)
        assert all(isinstance(p, ProbePoint) and p.where in ("input", "output") for p in pts)
    assert probe_points("resnet_mini", width=4) == probe_points("resnet_mini")
    assert [p.name for p in probe_points("vgg16_ln")] == VGG_NAMES
    assert probe_points("vit_b_32")[0] == ProbePoint("block1_attn", "blocks.0.norm2", "input")


def test_param_groups():
    model = build_model("resnet_mini", 4)
    groups = param_groups(model, 5e-4)
    by_name = {g["name"]: g for g in groups}
    assert by_name["decay"]["weight_decay"] == 5e-4 and by_name["no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in by_name["decay"]["params"])
    assert all(p.ndim <= 1 for p in by_name["no_decay"]["params"])
    n_all = sum(1 for p in model.parameters())
    assert len(by_name["decay"]["params"]) + len(by_name["no_decay"]["params"]) == n_all
    assert any(p is model.bn1.weight for p in by_name["no_decay"]["params"])
    assert any(p is model.fc.bias for p in by_name["no_decay"]["params"])
    assert any(p is model.fc.weight for p in by_name["decay"]["params"])


def test_errors():
    with pytest.raises(ValueError) as e:
        build_model("resnet18", 10)
    for name in ARCHITECTURES:
        assert name in str(e.value)
    with pytest.raises(ValueError, match="resnet_mini"):
        probe_points("nope")
    with pytest.raises(ValueError):
        models.default_image_size("nope")
    with pytest.raises(ValueError, match="width"):
        build_model("resnet50", 10, width=32)
    with pytest.raises(ValueError):
        ProbePoint("x", "fc", where="middle")
