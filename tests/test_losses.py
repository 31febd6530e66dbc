"""The nine training losses of Kornblith et al. (2021): values by hand, gradients, model changes, training."""

import math

import pytest
import torch
import torch.nn.functional as F

from paperlib import config, foreign, losses, models, names, train

Z = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -2.0]])  # 2 examples x 3 classes
Y = torch.tensor([0, 2])
ONEHOT = F.one_hot(Y, 3).float()

# Architectures whose final layer the model-side losses change (the small ones build fast).
ARCHS = [a for a in ("resnet_mini", "vgg_mini", "vgg_mini_bn", "vit_mini") if a in names.ARCHITECTURES]


def _softmax_xent(z, onehot):
    return -(onehot * torch.log_softmax(z, dim=1)).sum(1).mean()


def _by_hand(name: str) -> torch.Tensor:
    """Each loss on (Z, Y), written out from its definition."""
    z, oh = Z, ONEHOT
    if name in ("softmax", "dropout", "extra_l2", "cosine_softmax"):  # their logit part is plain softmax
        return _softmax_xent(z, oh)
    if name == "label_smoothing":
        return _softmax_xent(z, 0.9 * oh + 0.1 / 3) / 0.9
    if name == "logit_norm":
        return _softmax_xent(z / (0.04 * z.norm(dim=1, keepdim=True)), oh)
    if name == "logit_penalty":
        return _softmax_xent(z, oh) + 6e-4 / 2 * (z**2).sum(1).mean()
    if name == "squared_error":
        return ((9 * (60 - (z * oh).sum(1)) ** 2 + ((z * (1 - oh)) ** 2).sum(1)) / 10).mean()
    if name == "sigmoid":
        p = torch.sigmoid(z - math.log(3))
        return -(oh * torch.log(p) + (1 - oh) * torch.log(1 - p)).sum(1).mean()
    raise AssertionError(name)


def test_every_name_is_implemented_once():
    assert tuple(losses.LOSSES) == names.LOSSES == tuple(losses.SPECS) and len(names.LOSSES) == 9
    assert {h.loss for h in losses.HYPERPARAMETERS} <= set(names.LOSSES)
    assert all(h.source for h in losses.HYPERPARAMETERS)


@pytest.mark.parametrize("name", names.LOSSES)
def test_value_by_hand_finite_scalar_and_gradient(name):
    z = Z.clone().requires_grad_(True)
    out = losses.get_loss(name)(z, Y)
    assert out.ndim == 0 and torch.isfinite(out)
    torch.testing.assert_close(out, _by_hand(name))
    torch.testing.assert_close(losses.get_spec(name)(Z, Y), out.detach())  # the spec is callable as the loss
    out.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_against_torch_references():
    torch.testing.assert_close(
        losses.get_loss("label_smoothing")(Z, Y), F.cross_entropy(Z, Y, label_smoothing=0.1) / 0.9
    )
    torch.testing.assert_close(
        losses.get_loss("sigmoid")(Z, Y), F.binary_cross_entropy_with_logits(Z - math.log(3), ONEHOT) * 3
    )
    torch.testing.assert_close(losses.get_loss("logit_norm")(Z, Y), F.cross_entropy(F.normalize(Z, dim=1) / 0.04, Y))
    assert losses.hyperparameters("dropout") == {"drop_prob": 0.3}
    assert losses.hyperparameters("extra_l2") == {"lambda_": 8e-4}
    assert losses.hyperparameters("logit_penalty") == {"beta": 6e-4}
    assert losses.hyperparameters("logit_norm") == {"tau": 0.04}
    assert losses.hyperparameters("cosine_softmax") == {"tau": 0.05}
    assert losses.hyperparameters("label_smoothing") == {"alpha": 0.1}


def test_unknown_name_lists_valid_ones():
    for get in (losses.get_loss, losses.get_spec, losses.hyperparameters):
        with pytest.raises(ValueError, match="valid:.*cosine_softmax.*sigmoid"):
            get("hinge")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ["dropout", "cosine_softmax", "logit_norm", "extra_l2", "sigmoid"])
def test_prepare_model_keeps_state_dict_and_probe_points(arch, name):
    plain = models.build_model(arch, 3)
    model = models.build_model(arch, 3)
    losses.get_spec(name).prepare_model(model)
    assert list(model.state_dict()) == list(plain.state_dict())
    assert all(model.state_dict()[k].shape == v.shape for k, v in plain.state_dict().items())
    assert model.probe_points == plain.probe_points
    head = models.final_layer(model)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 3
    torch.nn.init.normal_(models.final_layer(plain).weight)  # trained weights: not the zero initialisation
    model.load_state_dict(plain.state_dict())  # cached weights load into a prepared model
    losses.get_spec(name).prepare_model(model)  # again: leaves loaded weights alone
    torch.testing.assert_close(models.final_layer(model).weight, models.final_layer(plain).weight)


def test_final_layer_of_every_family():
    assert models.final_layer(models.build_model("resnet_mini", 3, width=2)) is not None
    vgg = models.build_model("vgg_mini", 3, width=2)
    assert models.final_layer(vgg) is vgg.classifier[-1]
    with pytest.raises(ValueError, match="final linear layer"):
        models.final_layer(torch.nn.Sequential(torch.nn.ReLU()))


def test_dropout_only_in_train_mode_and_probe_sees_undropped_features():
    model = models.build_model("resnet_mini", 3, width=2)
    spec = losses.get_spec("dropout")
    spec.prepare_model(model)
    head = models.final_layer(model)
    assert isinstance(head, losses.PenultimateDropoutLinear) and head.drop_prob == pytest.approx(0.3)
    torch.nn.init.normal_(head.weight)
    seen = []
    head.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    h = torch.rand(64, head.in_features) + 0.1
    head.eval()
    torch.testing.assert_close(head(h), F.linear(h, head.weight, head.bias))  # identity in eval mode
    head.train()
    torch.manual_seed(0)
    out = head(h)
    torch.manual_seed(0)
    dropped = F.dropout(h, 0.3, training=True)
    torch.testing.assert_close(out, F.linear(dropped, head.weight, head.bias))
    assert (dropped == 0).any() and not torch.equal(out, F.linear(h, head.weight, head.bias))
    torch.testing.assert_close(seen[-1], h)  # the penultimate probe hooks the input before the dropout


def test_cosine_head_by_hand_and_gradients():
    model = models.build_model("resnet_mini", 3, width=2)
    losses.get_spec("cosine_softmax").prepare_model(model)
    head = models.final_layer(model)
    assert isinstance(head, losses.CosineLinear) and head.tau == pytest.approx(0.05)
    assert head.weight.detach().abs().sum() > 0 and not head.bias.detach().any()  # N(0, 0.01), zero bias
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.1, -0.2, 0.0]))
    h = torch.randn(2, head.in_features, requires_grad=True)
    out = head(h)
    w = head.weight.detach()
    # Kornblith et al.'s resnet_model.py: matmul(inputs, l2_normalize(kernel, 0)) + bias, then / tau
    cos = torch.stack([torch.stack([(h[i] @ w[k]) / w[k].norm() for k in range(3)]) for i in range(2)])
    torch.testing.assert_close(out, (cos + head.bias) / 0.05)
    loss = losses.get_spec("cosine_softmax")(out, Y)
    loss.backward()
    assert head.weight.grad.abs().sum() > 0 and h.grad.abs().sum() > 0
    # only the kernel is normalised: invariant to the weights' scale, not to the features'
    with torch.no_grad():
        out = out.detach()
        torch.testing.assert_close(head(3 * h) - head.bias / 0.05, 3 * (out - head.bias / 0.05))
        head.weight.mul_(3.0)
        torch.testing.assert_close(head(h), out)
    # the whole model trains through the cosine head
    model.train()
    x = torch.randn(4, 3, 32, 32)
    losses.get_spec("cosine_softmax")(model(x), torch.tensor([0, 1, 2, 0])).backward()
    assert model.conv1.weight.grad.abs().sum() > 0


def test_extra_l2_penalty_and_its_gradient():
    model = models.build_model("resnet_mini", 3, width=2)
    spec = losses.get_spec("extra_l2")
    assert losses.get_spec("softmax").penalty(model) == 0.0
    head = models.final_layer(model)
    torch.nn.init.normal_(head.weight)
    pen = spec.penalty(model)
    torch.testing.assert_close(pen, 8e-4 / 2 * (head.weight.detach() ** 2).sum())
    pen.backward()
    torch.testing.assert_close(head.weight.grad, 8e-4 * head.weight.detach())
    assert head.bias.grad is None  # the bias is not penalised


def test_train_step_adds_the_penalty():
    cfg = config.get_profile("smoke").train_config("resnet", loss="extra_l2").replace(width=2)
    model = train.build_for(cfg, 3)
    torch.nn.init.normal_(models.final_layer(model).weight)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    ema = train.EMA(model, 0.99)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 0])
    spec = losses.get_spec("extra_l2")
    pen = float(spec.penalty(model).detach())
    torch.manual_seed(0)
    with_pen, _ = train.train_step(
        model, model, opt, ema, spec, x, y, dataset=cfg.dataset, device=torch.device("cpu"), amp=False
    )
    torch.manual_seed(0)
    plain, _ = train.train_step(
        model,
        model,
        opt,
        ema,
        losses.get_loss("extra_l2"),
        x,
        y,
        dataset=cfg.dataset,
        device=torch.device("cpu"),
        amp=False,
    )
    assert pen > 0 and float(with_pen) == pytest.approx(float(plain) + pen, rel=1e-5)


def test_cosine_softmax_trains_caches_and_reloads(tmp_path):
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2})
    cfg = prof.train_config("resnet", loss="cosine_softmax").replace(
        train_per_subclass=8, batch_size=32, snapshot_epochs=(1,)
    )
    kw = {"cache_dir": tmp_path, "progress": False, "device": "cpu"}
    tr = train.train_model(cfg, **kw)
    assert isinstance(models.final_layer(tr.model), losses.CosineLinear)
    assert math.isfinite(tr.history[-1]["loss"])
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        ref = tr.model(x)
        again = train.train_model(cfg, **kw)  # from the cache
        assert isinstance(models.final_layer(again.model), losses.CosineLinear)
        torch.testing.assert_close(again.model(x), ref)
        snap = train.load_snapshot(again, 1)
        torch.testing.assert_close(snap.model(x), ref)
        probed = foreign.load_model("resnet_mini", tr.path / "model.pt")
        assert isinstance(models.final_layer(probed), losses.CosineLinear)
        torch.testing.assert_close(probed(x), ref)
    head = models.final_layer(tr.model)
    seen = []
    handle = head.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].detach()))
    with torch.no_grad():
        tr.model(x)
    handle.remove()
    # |h . w_k / ||w_k||| <= ||h||: only the kernel is normalised
    bound = (seen[0].norm(dim=1, keepdim=True) + head.bias.detach().abs()) / 0.05
    assert (ref.abs() <= bound + 1e-4).all()


def test_squared_error_recipes_differ_by_their_loss_scale():
    """Fig. 6's squared error (Kornblith et al.'s loss_scale 10) is 100 x Figs. 4/5's (/ 10) on the same logits."""
    torch.manual_seed(0)
    z = 30 * torch.randn(5, 4)
    y = torch.tensor([0, 3, 1, 2, 0])
    nguyen = losses.get_loss("squared_error", "nguyen")(z, y)
    kornblith = losses.get_loss("squared_error", "kornblith")(z, y)
    torch.testing.assert_close(kornblith, 100 * nguyen)
    oh = F.one_hot(y, 4).float()
    by_hand = (10 * (9 * ((z * oh).sum(1) - 60) ** 2 + ((z * (1 - oh)) ** 2).sum(1))).mean()
    torch.testing.assert_close(kornblith, by_hand)
    assert losses.get_loss("squared_error") is losses.LOSSES["squared_error"]  # the default is the Figs. 4/5 one
    assert losses.hyperparameters("squared_error", "kornblith")["scale"] == 10.0
    assert losses.hyperparameters("squared_error", "nguyen")["scale"] == 0.1
    # every other loss is the same under both recipes
    torch.testing.assert_close(losses.get_loss("sigmoid", "kornblith")(z, y), losses.get_loss("sigmoid")(z, y))
    with pytest.raises(ValueError, match="recipe"):
        losses.get_spec("squared_error", "hui")
