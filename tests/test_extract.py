import numpy as np
import pytest
import torch

from paperlib import data, extract, models


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.build_model("resnet_mini", 4, width=2).eval()


@pytest.fixture(scope="module")
def split():
    return data.load_split("synthetic", "val", per_subclass=5)  # 16 subclasses x 5 = 80 images


def test_flatten_and_avg_shapes(model, split):
    N = len(split)
    assert N == 16 * 5
    emb, logits = extract.extract(model, split, pool="flatten", batch_size=16)
    assert list(emb) == [p.name for p in model.probe_points]
    assert emb["stage1_block1"].shape == (N, 2 * 32 * 32)
    assert emb["stage4_block2"].shape == (N, 16 * 4 * 4)
    assert emb["penultimate"].shape == (N, 16) and logits.shape == (N, 4)
    avg, _ = extract.extract(model, split, pool="avg", batch_size=16)
    assert avg["stage1_block1"].shape == (N, 2)
    # avg pooling is the spatial mean of the flattened map
    np.testing.assert_allclose(
        avg["stage2_block1"], emb["stage2_block1"].reshape(N, 4, 16, 16).mean((2, 3)), rtol=1e-5, atol=1e-6
    )


def test_all_layers_in_one_forward_pass(model, split):
    calls = []
    h = model.register_forward_hook(lambda *a: calls.append(1))
    with extract.ProbeRecorder(model, model.probe_points) as rec:
        with torch.no_grad():
            model(data.normalize(split.images[:8], "synthetic"))
    h.remove()
    assert len(calls) == 1
    assert all(n == 1 for n in rec.calls.values())
    calls.clear()
    h = model.register_forward_hook(lambda *a: calls.append(1))
    extract.extract(model, split, batch_size=16)
    h.remove()
    assert len(calls) == 5  # ceil(80 / 16) batches, one pass each for all layers


def test_l2_normalize_and_layer_subset(model, split):
    emb, _ = extract.extract(model, split, layers=["stage3_block1"], l2_normalize=True, batch_size=32)
    assert list(emb) == ["stage3_block1"]
    np.testing.assert_allclose(np.linalg.norm(emb["stage3_block1"], axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="stage1_block1"):
        extract.extract(model, split, layers=["layer9"])
    with pytest.raises(ValueError, match="flatten"):
        extract.pool_activation(torch.zeros(2, 3, 4, 4), "max")


def test_iter_superclasses_covers_every_image_once(model, split):
    h = data.base_hierarchy("synthetic")
    seen = []
    for s, index, emb, logits in extract.iter_superclasses(model, split, h, batch_size=64):
        assert (h.lookup()[split.subclass[index]] == s).all()
        assert emb["penultimate"].shape[0] == len(index) == logits.shape[0]
        seen.append(index)
    assert sorted(np.concatenate(seen).tolist()) == list(range(len(split)))


def test_extraction_is_float32_by_default(model, split, monkeypatch, tmp_path):
    import dataclasses

    from paperlib import config, experiment, train

    emb, logits = extract.extract(model, split, batch_size=len(split))
    assert all(e.dtype == np.float32 for e in emb.values()) and logits.dtype == np.float32
    with torch.no_grad():
        ref = model(data.normalize(split.images, "synthetic").float())
    assert ref.dtype == torch.float32
    np.testing.assert_allclose(logits, ref.numpy(), rtol=1e-6, atol=1e-6)
    # The pipeline extracts in float32 even for a model trained with bf16 autocast, unless asked.
    paper = config.get_profile("paper")
    assert paper.amp and not paper.eval_config().extract_bf16
    assert paper.eval_config(extract_bf16=True).extract_bf16
    seen = []
    monkeypatch.setattr(extract, "iter_superclasses", lambda *a, **k: seen.append(k["amp"]) or iter(()))
    prof = config.get_profile("smoke")
    h = data.base_hierarchy("synthetic")
    trained = train.Trained(model, prof.train_config("resnet").replace(amp=True), h, [], tmp_path)
    ecfg = prof.eval_config((1,))
    experiment._compute(trained, ecfg, None, tmp_path, "cpu", False, 64)
    experiment._compute(trained, dataclasses.replace(ecfg, extract_bf16=True), None, tmp_path, "cpu", False, 64)
    assert seen == [False, True]


def test_batches_land_in_their_rows_and_placement_is_checked(model, split):
    """Each batch is written into its rows of one preallocated array: a ragged last batch (80 = 2 x 32
    + 16) gives the same embeddings as one whole batch and as the model's own forward pass."""
    whole, logits_whole = extract.extract(model, split, batch_size=len(split))
    ragged, logits_ragged = extract.extract(model, split, batch_size=32, keep="auto")  # CPU: auto means host
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in ragged.values())
    for k in whole:
        np.testing.assert_allclose(ragged[k], whole[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits_ragged, logits_whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        direct = model(data.normalize(split.images[40:80], "synthetic")).numpy()
    np.testing.assert_allclose(logits_ragged[40:80], direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"unknown embedding placement 'gpu'; valid: \['host', 'device', 'auto'\]"):
        extract.extract(model, split, keep="gpu")


def test_streamed_embeddings_equal_the_collected_ones_and_keep_the_consumers_grad_mode(model, split):
    points = extract.resolve_layers(model, ["stage2_block1", "penultimate"])
    labels = np.arange(len(split))
    batches = data.iterate_batches(split, labels, batch_size=24, train=False)
    seen, grad_modes = [], []
    for emb, logits, y in extract.iter_embeddings(
        model, batches, points, stats=split.dataset, pool="avg", l2_normalize=True
    ):
        grad_modes.append(torch.is_grad_enabled())  # the consumer's mode, as a probe trainer sees it
        assert list(emb) == ["stage2_block1", "penultimate"] and not logits.requires_grad
        seen.append((emb, logits, y))
    assert [len(y) for _, _, y in seen] == [24, 24, 24, 8] and all(grad_modes)
    np.testing.assert_array_equal(np.concatenate([np.asarray(y) for _, _, y in seen]), labels)  # labels untouched
    whole, whole_logits = extract.extract(
        model, split, layers=["stage2_block1", "penultimate"], pool="avg", l2_normalize=True, batch_size=24
    )
    for name in whole:
        np.testing.assert_array_equal(torch.cat([e[name] for e, _, _ in seen]).numpy(), whole[name])
    np.testing.assert_array_equal(torch.cat([lg for _, lg, _ in seen]).numpy(), whole_logits)
