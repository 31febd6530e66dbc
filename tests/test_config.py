import pytest

from paperlib import config


def test_paper_hyperparameters():
    prof = config.get_profile("paper")
    by = {(c.arch, c.loss): c for c in config.experiment_configs(prof, "fig7_architectures")}
    r = by[("resnet50", "softmax")]
    assert (r.optimizer, r.lr, r.momentum, r.weight_decay) == ("sgd", 0.1, 0.9, 1e-4)
    assert (r.epochs, r.batch_size, r.warmup_epochs, r.ema_decay, r.augment) == (400, 256, 5.0, 0.99, "rrc_flip")
    for a in ("vgg16", "vgg16_bn", "vgg16_ln"):
        assert by[(a, "softmax")].lr == 0.01
    v = by[("vit_b_32", "softmax")]
    assert (v.optimizer, v.lr, v.weight_decay) == ("adamw", 0.001, 0.1)
    sq = [c for c in config.experiment_configs(prof, "fig4_squared_error") if c.loss == "squared_error"]
    assert sq and all(c.lr == 0.001 for c in sq)
    assert {c.dataset for c in config.experiment_configs(prof, "tableG1_accuracy")} == {
        "living17",
        "nonliving26",
        "entity13",
    }


def test_experiments_at_small_profiles_use_the_profile_dataset():
    prof = config.get_profile("smoke")
    cfgs = config.experiment_configs(prof, "fig7_architectures")
    assert {c.dataset for c in cfgs} == {"synthetic"}
    assert {c.arch for c in cfgs} == {"vgg_mini", "vgg_mini_bn", "vgg_mini_ln", "resnet_mini", "vit_mini"}
    assert len(cfgs) == 5 * 2 * 3
    with pytest.raises(ValueError, match="fig2_shuffling"):
        config.experiment_configs(prof, "fig99")


def test_eval_config_validation():
    prof = config.get_profile("quick")
    with pytest.raises(ValueError, match="flatten"):
        prof.eval_config(pool="max")
    with pytest.raises(ValueError, match="factors"):
        prof.eval_config(factors=[0, 1])
    assert prof.eval_config([1, 3]).factors == (1, 3)
    assert prof.eval_config([1, 3]).l2_normalize  # unit-norm embeddings by default, as in the paper (Sec. 3)
    assert not prof.eval_config([1], l2_normalize=False).l2_normalize


def test_cifar_profile_is_whole_cifar100_to_convergence():
    prof = config.get_profile("cifar")
    assert config.PROFILES == ("smoke", "quick", "cifar", "paper")
    assert prof.dataset == "cifar100" and prof.train_per_subclass is None and prof.val_per_subclass is None
    r, v = prof.train_config("resnet"), prof.train_config("vgg")
    assert (r.arch, r.width, r.epochs, r.batch_size, r.lr, r.amp) == ("resnet_mini", 64, 100, 256, 0.1, True)
    assert (v.arch, v.width, v.lr) == ("vgg_mini", 64, 0.01)


def test_profile_epoch_scale_and_ema_decay():
    prof = config.get_profile("smoke")
    r, v = prof.train_config("resnet"), prof.train_config("vgg")
    assert (r.epochs, v.epochs) == (15, 30) and r.ema_decay == v.ema_decay == 0.98
    short = config.get_profile("smoke", epochs=3)
    assert (short.train_config("resnet").epochs, short.train_config("vgg").epochs) == (3, 6)
    assert config.get_profile("paper").train_config("vgg").epochs == 400


def test_small_profiles_train_the_mini_vit_with_adamw():
    for name, width, lr, epochs in [("smoke", 32, 1e-3, 40), ("quick", 32, 3e-3, 3), ("cifar", 256, 1e-3, 100)]:
        v = config.get_profile(name).train_config("vit")
        assert (v.arch, v.width, v.optimizer, v.weight_decay) == ("vit_mini", width, "adamw", 0.1), name
        assert v.lr == pytest.approx(lr) and v.epochs == epochs, name
    assert config.get_profile("paper").train_config("vit").arch == "vit_b_32"


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", -1),
        ("epochs", 0),
        ("batch_size", 0),
        ("eval_batch_size", 0),
        ("ema_decay", 1.0),
        ("train_per_subclass", 0),
        ("widths", {"resnet_mini": 0}),
        ("lr_scale", {"vgg": 0.0}),
        ("epoch_scale", {"vgg": -1}),
    ],
)
def test_profile_values_are_checked_before_compute(field, value):
    with pytest.raises(ValueError, match=field):
        config.get_profile("smoke", **{field: value})


def test_train_config_values_are_checked():
    cfg = config.get_profile("smoke").train_config("resnet")
    for field, value in [("epochs", -1), ("batch_size", 0), ("lr", 0.0), ("momentum", 1.0), ("width", 0)]:
        with pytest.raises(ValueError, match=field):
            cfg.replace(**{field: value})


def test_notebook_parameters_accept_papermill_strings():
    assert config.parse_param("architectures", '["alexnet"]', list) == ["alexnet"]
    assert config.parse_param("factors", "[0]", list) == [0]
    assert config.parse_param("seeds", "[]", list) == []
    assert config.parse_param("overrides", '{"epochs": 2}', dict) == {"epochs": 2}
    assert config.parse_param("overrides", "{}", dict) == {}
    with pytest.raises(ValueError, match="-y"):
        config.parse_param("seeds", "[0", list)
    with pytest.raises(ValueError, match="seeds must be a list"):
        config.parse_param("seeds", "3", list)
