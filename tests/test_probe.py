"""Linear probes (paperlib.probe): known answers, streaming, scikit-learn, and a tiny trained model."""

import time

import numpy as np
import pandas as pd
import pytest
import torch

from paperlib import cache, config, probe, train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: the machine is shared


def _blobs(n, d, k, sep, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * sep
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def _problem(seed=0):
    """A 4-class problem a linear model solves to about 85%: 40 features, 10 informative."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=3000,
        n_features=40,
        n_informative=10,
        n_redundant=5,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=seed,
    )
    X = X * np.linspace(0.1, 10, 40) + 3.0  # features on different scales and off-centre
    return X[:2000].astype(np.float32), y[:2000], X[2000:].astype(np.float32), y[2000:]


def test_separable_blobs_are_learned_perfectly():
    X, y = _blobs(1200, 10, 4, sep=4.0, seed=0)
    p = probe.fit_linear_probe(probe.array_batches(X[:800], y[:800], 64), 10, 4, epochs=5, seed=0)
    assert probe.probe_accuracy(p, probe.array_batches(X[800:], y[800:], 100)) >= 0.99


def test_random_labels_give_chance_on_held_out_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 50)).astype(np.float32)
    y = rng.integers(0, 4, 4000)
    p = probe.fit_linear_probe(probe.array_batches(X[:1000], y[:1000], 64), 50, 4, epochs=10, seed=0)
    train_acc = probe.probe_accuracy(p, probe.array_batches(X[:1000], y[:1000], 500))
    test_acc = probe.probe_accuracy(p, probe.array_batches(X[1000:], y[1000:], 500))
    assert abs(test_acc - 0.25) < 0.04  # 3000 held-out examples: sd of chance accuracy 0.008
    assert train_acc > test_acc + 0.03  # it does fit (memorise) the training labels somewhat


def test_standardisation_is_exact_whatever_the_batch_size():
    X, y, _, _ = _problem()
    X[:, 5] = 7.0  # a constant feature: centred, not scaled
    means, stds = [], []
    for bs in (1, 7, 64, 2000):
        p = probe.fit_linear_probe(probe.array_batches(X, y, bs), 40, 4, epochs=1, seed=0)
        means.append(p.mean.numpy())
        stds.append(p.std.numpy())
    want_std = X.astype(np.float64).std(0)
    want_std[5] = 1.0
    for m, s in zip(means, stds):
        np.testing.assert_allclose(m, X.astype(np.float64).mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s, want_std, rtol=1e-6)
    assert np.isfinite(p.weight.numpy()).all()


def test_streaming_batch_size_changes_little_and_a_seed_fixes_the_result():
    Xtr, ytr, Xte, yte = _problem()
    accs = {}
    for bs in (32, 128, 512):
        p = probe.fit_linear_probe(probe.array_batches(Xtr, ytr, bs), 40, 4, epochs=10, seed=0)
        accs[bs] = probe.probe_accuracy(p, probe.array_batches(Xte, yte, 1000))
    assert max(accs.values()) - min(accs.values()) < 0.03, accs
    a = probe.fit_linear_probe(probe.array_batches(Xtr, ytr, 64), 40, 4, epochs=3, seed=5)
    b = probe.fit_linear_probe(probe.array_batches(Xtr, ytr, 64), 40, 4, epochs=3, seed=5)
    c = probe.fit_linear_probe(probe.array_batches(Xtr, ytr, 64), 40, 4, epochs=3, seed=6)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)  # the seed sets the order of the examples


def test_a_batches_fn_without_argument_is_used_as_given():
    Xtr, ytr, Xte, yte = _problem()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(ytr))
    fixed = probe.array_batches(Xtr[perm], ytr[perm], 64)

    def gen():  # no seed parameter: the same (shuffled once) order every epoch
        yield from fixed()

    p = probe.fit_linear_probe(gen, 40, 4, epochs=10, seed=0)
    assert probe.probe_accuracy(p, probe.array_batches(Xte, yte, 1000)) > 0.75


def test_close_to_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xte, yte = _problem()
    wd = 1e-3
    p = probe.fit_linear_probe(probe.array_batches(Xtr, ytr, 64), 40, 4, epochs=20, weight_decay=wd, seed=0)
    ours = probe.probe_accuracy(p, probe.array_batches(Xte, yte, 1000))
    sc = StandardScaler().fit(Xtr)
    sk = LogisticRegression(C=1 / (len(ytr) * wd), max_iter=2000).fit(sc.transform(Xtr), ytr)
    theirs = sk.score(sc.transform(Xte), yte)
    assert abs(ours - theirs) < 0.03, (ours, theirs)

    def objective(W, b):  # mean cross-entropy + wd/2 ||W||^2, the same for both
        z = sc.transform(Xtr) @ W.T + b
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(len(ytr)), ytr].mean() + wd / 2 * (W**2).sum()

    assert objective(p.weight.double().numpy(), p.bias.double().numpy()) < 1.03 * objective(sk.coef_, sk.intercept_)


def test_bad_batches_are_refused():
    X, y = _blobs(100, 5, 3, 1.0, 0)
    with pytest.raises(ValueError, match=r"\(batch, 6\)"):
        probe.fit_linear_probe(probe.array_batches(X, y, 10), 6, 3, epochs=1)
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        probe.fit_linear_probe(probe.array_batches(X, y, 10), 5, 2, epochs=1)
    with pytest.raises(ValueError, match="empty"):
        probe.fit_linear_probe(lambda: iter(()), 5, 3, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        probe.fit_linear_probe(probe.array_batches(X, y, 10), 5, 3, epochs=0)
    p = probe.fit_linear_probe(probe.array_batches(X, y, 10), 5, 3, epochs=1)
    with pytest.raises(ValueError, match="no example"):
        probe.probe_accuracy(p, lambda: iter(()))


# --------------------------------------------------------------------------- a trained (tiny) model
@pytest.fixture(scope="module")
def smoke():
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2})
    return prof, train.train_model(prof.train_config("resnet"), progress=False)


def test_layer_probe_accuracies_on_the_smoke_model(smoke):
    prof, trained = smoke
    ecfg = prof.eval_config([1])
    t0 = time.perf_counter()
    df = probe.layer_probe_accuracies(trained, ecfg=ecfg, epochs=2, progress=False)
    first = time.perf_counter() - t0
    names = [p.name for p in trained.model.probe_points]
    assert list(df.columns) == ["layer", "depth", "rel_depth", "probe_acc", "solver"]
    assert set(df["solver"]) == {"lbfgs"}  # the smoke model's features fit the default budget
    assert df["layer"].tolist() == names and df["depth"].tolist() == list(range(len(names)))
    assert df["rel_depth"].iloc[0] == 0 and df["rel_depth"].iloc[-1] == 1
    assert df["probe_acc"].between(0, 1).all()
    assert df["probe_acc"].max() > 2 / 16  # 16 subclasses: well above chance somewhere
    assert df.attrs["n_train"] == 2560 and df.attrs["n_val"] == 640 and df.attrs["n_classes"] == 16
    # cached: the second call reads the table back, whatever the (ignored) factors
    t0 = time.perf_counter()
    again = probe.layer_probe_accuracies(trained, ecfg=prof.eval_config([1, 2, 3]), epochs=2, progress=False)
    assert time.perf_counter() - t0 < first / 3
    pd.testing.assert_frame_equal(df, again)
    # a subset of layers: same depths, its own entry
    sub = probe.layer_probe_accuracies(trained, ["stage2_block1", "penultimate"], ecfg=ecfg, epochs=2, progress=False)
    assert sub["layer"].tolist() == ["stage2_block1", "penultimate"]
    assert sub["depth"].tolist() == [2, len(names) - 1]
    # each probe is independent of the others: the subset's accuracies are the full run's
    np.testing.assert_allclose(
        sub["probe_acc"].to_numpy(), df.set_index("layer").loc[sub["layer"], "probe_acc"].to_numpy()
    )
    with pytest.raises(ValueError, match="unknown layer"):
        probe.layer_probe_accuracies(trained, ["nope"], ecfg=ecfg, progress=False)
    # `paperlib cache list` sees the two probe tables, finished and made by the current code
    from paperlib import inventory

    mine = [
        e
        for e in inventory.entries(kinds=("probes",))
        if e.config.get("train") == cache.canonical(trained.config.key_dict())
    ]
    assert len(mine) >= 2 and {e.state for e in mine} == {"finished"} and {e.code for e in mine} == {"current"}


def test_probe_key_holds_what_changes_the_result(smoke):
    prof, trained = smoke
    cfg, pc = trained.config, probe.ProbeConfig()
    k = probe.probe_key(cfg, prof.eval_config([1]), pc, ["penultimate"])
    assert k == probe.probe_key(cfg, prof.eval_config([1, 5]), pc, ["penultimate"])  # factors do not matter
    assert k != probe.probe_key(cfg, prof.eval_config([1], pool="avg"), pc, ["penultimate"])
    assert k != probe.probe_key(cfg, prof.eval_config([1]), probe.ProbeConfig(lr=0.1), ["penultimate"])
    assert k != probe.probe_key(cfg, prof.eval_config([1]), probe.ProbeConfig(exact_max_bytes=0), ["penultimate"])
    assert k != probe.probe_key(cfg.replace(seed=1), prof.eval_config([1]), pc, ["penultimate"])
    assert k != probe.probe_key(cfg, prof.eval_config([1]), pc, ["stage1_block1"])
    assert set(k) == {"train", "eval", "probe", "layers", "code", "data"}


def _layer_features(trained, ecfg, split_name):
    """Every probe point's embeddings (float32, ``(n, dim)``) and subclass labels of a split, as the probe sees them."""
    from paperlib import data, experiment, extract

    cfg, h = trained.config, trained.hierarchy
    if split_name == "train":
        split = data.load_split(cfg.dataset, "train", per_subclass=cfg.train_per_subclass)
    else:
        split = experiment.validation_split(cfg.dataset, ecfg.val_per_subclass, ecfg.decode_size, None, None, False, 0)
    idx = np.flatnonzero(h.superclass_labels(split.subclass) >= 0)
    points = extract.resolve_layers(trained.model, None)
    feats, ys = {}, []
    for emb, y in probe._layer_batches(
        trained.model, split, split.subclass.astype(np.int64), idx, points, ecfg, 256, torch.device("cpu")
    ):
        for k, e in emb.items():
            feats.setdefault(k, []).append(e.float().numpy())
        ys.append(np.asarray(y))
    return {k: np.concatenate(v) for k, v in feats.items()}, np.concatenate(ys)


@pytest.mark.parametrize("arch", ["resnet", "vgg"])
def test_exact_probe_agrees_with_scikit_learn_at_every_probe_point(arch):
    """Issue 19's Done-when: at every probe point of a smoke ResNet and VGG, the table's accuracy (the
    exact L-BFGS probe) is within one point of scikit-learn's LogisticRegression on the same standardised
    features with the same penalty (C = 1 / (n_train * weight_decay)). 40 training images per subclass
    (640, fewer than the widest layers' features, so both of the exact probe's rotations are used) keep
    scikit-learn's solves on the wide layers short."""
    from sklearn.linear_model import LogisticRegression

    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2}, train_per_subclass=40)
    trained = train.train_model(prof.train_config(arch), progress=False)
    ecfg = prof.eval_config([1])
    wd = 1e-4
    df = probe.layer_probe_accuracies(trained, ecfg=ecfg, weight_decay=wd, progress=False, device="cpu")
    assert set(df["solver"]) == {"lbfgs"}
    Xtr, ytr = _layer_features(trained, ecfg, "train")
    Xva, yva = _layer_features(trained, ecfg, "val")
    assert set(Xtr) == set(df["layer"])
    assert len(ytr) == 640 and min(x.shape[1] for x in Xtr.values()) < 640 < max(x.shape[1] for x in Xtr.values())
    for layer, acc in zip(df["layer"], df["probe_acc"], strict=True):
        mean, std = Xtr[layer].astype(np.float64).mean(0), Xtr[layer].astype(np.float64).std(0)
        std[std < probe.STD_FLOOR] = 1.0
        clf = LogisticRegression(C=1 / (len(ytr) * wd), max_iter=5000, tol=1e-8)
        clf.fit((Xtr[layer] - mean) / std, ytr)
        ref = clf.score((Xva[layer] - mean) / std, yva)
        assert abs(acc - ref) <= 0.01, (layer, acc, ref)


def _objective(X, y, W, b, wd):
    """Mean cross-entropy + wd/2 ||W||^2 of the standardised ``X`` (float64)."""
    logits = torch.as_tensor(X, dtype=torch.float64) @ torch.as_tensor(W, dtype=torch.float64).T + torch.as_tensor(b)
    return float(torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)) + 0.5 * wd * float((W**2).sum()))


def test_exact_probe_minimises_the_objective():
    """fit_exact_probe reaches scikit-learn's penalised optimum (objective within 1e-6) on a wide problem."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 500)).astype(np.float32)
    y = rng.integers(0, 4, 200)
    X[:, :5] += y[:, None]
    wd = 1e-3
    p = probe.fit_exact_probe(X, y, 4, wd)
    Z = (X - X.mean(0)) / X.std(0)
    clf = LogisticRegression(C=1 / (len(y) * wd), max_iter=10000, tol=1e-10).fit(Z, y)
    ours = _objective(Z, y, p.weight.double().numpy(), p.bias.double().numpy(), wd)
    theirs = _objective(Z, y, clf.coef_, clf.intercept_, wd)
    assert ours <= theirs + 1e-6, (ours, theirs)
    assert probe.probe_accuracy(p, probe.array_batches(X, y)) == pytest.approx(clf.score(Z, y), abs=0.01)
    with pytest.raises(ValueError, match="labels"):
        probe.fit_exact_probe(X, y + 4, 4)
    with pytest.raises(ValueError, match="method"):
        probe.fit_exact_probe(X, y, 4, method="dual")


def _same_solution(X, y, k, wd):
    """The rotated (reduced) and the direct (primal) solves of one problem, to a tight tolerance."""
    red = probe.fit_exact_probe(X, y, k, wd, tol=1e-8)
    pri = probe.fit_exact_probe(X, y, k, wd, method="primal", tol=1e-8)
    Z = ((X - red.mean.numpy()) / red.std.numpy()).astype(np.float64)
    for a, b in ((red.weight, pri.weight), (red.bias, pri.bias)):
        assert float((a - b).norm()) <= 1e-5 * float(b.norm()), (float((a - b).norm()), float(b.norm()))
    obj_red = _objective(Z, y, red.weight.double().numpy(), red.bias.double().numpy(), wd)
    obj_pri = _objective(Z, y, pri.weight.double().numpy(), pri.bias.double().numpy(), wd)
    assert obj_red == pytest.approx(obj_pri, rel=1e-6)
    assert red.history[0] == pytest.approx(pri.history[0], rel=1e-9)  # the optimum's value, in float64
    return red, pri


@pytest.mark.parametrize("shape", [(60, 500), (300, 40)], ids=["wide", "long"])
def test_the_rotated_solve_is_the_primal_optimum(shape):
    """The exact probe's rotation onto the row space (Gram matrix when dim > n, covariance otherwise)
    gives the W, bias and objective of the L-BFGS on the standardised features themselves."""
    n, d = shape
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, n)
    X = (rng.normal(size=(n, d)) + 0.5 * y[:, None] * (np.arange(d) < 5)).astype(np.float32)
    _same_solution(X, y, 4, 1e-2)


def test_the_rotated_solve_handles_a_rank_deficient_problem():
    """Duplicate rows and columns and a constant column: the rank is below min(n, dim), the optimum is
    still the primal one, and duplicated columns get equal weights."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 50)
    X = (rng.normal(size=(50, 300)) + 0.5 * y[:, None] * (np.arange(300) < 5)).astype(np.float32)
    X = np.concatenate([X, X[:, :40]], 1)  # 40 duplicate columns
    X = np.concatenate([X, X[:10]], 0)  # 10 duplicate rows
    y = np.concatenate([y, y[:10]])
    X[:, 45] = 2.5  # a constant column: centred to zero, its weight zero
    Xs = torch.as_tensor((X - X.mean(0)) / np.where(X.std(0) < probe.STD_FLOOR, 1.0, X.std(0)))
    F, s, _ = probe._reduce(Xs.float())
    assert F.shape[1] == s.shape[0] == 49  # 50 distinct rows, centred
    red, _ = _same_solution(X, y, 4, 1e-2)
    torch.testing.assert_close(red.weight[:, :40], red.weight[:, 300:], rtol=1e-5, atol=1e-6)
    assert float(red.weight[:, 45].abs().max()) < 1e-6


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_shuffled_batches_stream_the_right_images(kind, tmp_path):
    """The training order is streamed batch by batch, for in-memory images and for image files."""
    from PIL import Image

    from paperlib import data

    n = 150  # > 64 batches of 2 for files: two loader groups
    value = (np.arange(n) % 250).astype(np.uint8)
    if kind == "memory":
        images = torch.from_numpy(np.broadcast_to(value[:, None, None, None], (n, 3, 8, 8)).copy())
        split = data.Split("synthetic", "train", np.arange(n), images=images)
    else:
        paths = []
        for i in range(n):
            p = tmp_path / f"{i}.png"
            Image.fromarray(np.full((10, 12, 3), value[i], np.uint8)).save(p)
            paths.append(str(p))
        split = data.Split("synthetic", "train", np.arange(n), paths=paths)
    index = np.arange(0, n, 1)[np.arange(n) % 7 != 3]  # some images left out
    targets = np.arange(n) * 10
    batches = [index[b] for b in probe._batch_order(len(index), 2, seed=4)]
    got = list(probe._image_batches(split, targets, batches, 2, config.EvalConfig(image_size=8), 0))
    assert len(got) == len(batches)
    for (x, y), want in zip(got, batches):
        assert x.shape == (len(want), 3, 8, 8)
        assert y.tolist() == (want * 10).tolist()
        assert x[:, 0, 4, 4].tolist() == value[want].tolist()
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == index.tolist()  # every chosen image once per epoch
    assert not np.array_equal(seen, index)  # in a shuffled order
