"""Crop boxes drawn on the batch's device (issue 22): the same rule, the same distribution as the host path.

With a CPU generator ``augment_batch`` draws exactly what it drew before (the pinned tests in
test_data.py); with a generator on the batch's device it draws there. On a machine without a GPU the
"device" is the CPU, so these tests run the device code path on the CPU; with CUDA they also run there.
"""

import numpy as np
import pytest
import torch
from scipy import stats

from paperlib import data
from paperlib.data.augment import _resample_boxes, _rrc_boxes

torch.set_num_threads(1)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _reference_rrc(x, g, size):
    """The host path spelled out: boxes and flips drawn on the CPU, in augment_batch's order."""
    b, _, h, w = x.shape
    top, left, ch, cw = _rrc_boxes(b, h, w, g)
    flip = torch.rand(b, generator=g) < 0.5
    return _resample_boxes(x, top, left, ch, cw, size, flip)


def test_host_generator_gives_the_host_draws_bit_for_bit():
    x = torch.randint(0, 256, (16, 3, 40, 30), dtype=torch.uint8)
    out = data.augment_batch(x, "rrc_flip", torch.Generator().manual_seed(3), out_size=24)
    assert torch.equal(out, _reference_rrc(x, torch.Generator().manual_seed(3), 24))


@pytest.mark.parametrize("device", DEVICES)
def test_device_generator_is_seeded_and_on_the_batch_device(device):
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, device=device)
    for mode in ("crop_flip", "rrc_flip"):
        a = data.augment_batch(x, mode, torch.Generator(device).manual_seed(0), out_size=24)
        b = data.augment_batch(x, mode, torch.Generator(device).manual_seed(0), out_size=24)
        assert a.device == x.device and a.dtype == torch.uint8 and torch.equal(a, b)
    ext = torch.tensor([[32, 20, 0], [18, 32, 1]] * 4, device=device)
    w = data.augment_batch(x, "rrc_flip", torch.Generator(device).manual_seed(0), 24, extent=ext)
    assert w.shape == (8, 3, 24, 24) and w.device == x.device


@pytest.mark.parametrize("device", DEVICES)
def test_device_boxes_have_the_host_distribution(device):
    """Two-sample tests, box by box: boxes drawn by a generator on ``device`` against host boxes (other seed)."""
    n = 4000
    host = _rrc_boxes(n, 100.0, 80.0, torch.Generator().manual_seed(1))
    dev = _rrc_boxes(n, 100.0, 80.0, torch.Generator(device).manual_seed(2))
    assert all(v.device.type == device for v in dev)
    for a, b in zip(host, dev):
        a, b = a.double().numpy(), b.double().cpu().numpy()
        assert stats.ks_2samp(a, b).pvalue > 1e-3
    # the rule itself: inside the image, aspect within [3/4, 4/3] up to rounding, area 5-100 %
    top, left, ch, cw = (v.double().cpu().numpy() for v in dev)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 100).all() and (left + cw <= 80).all()
    assert np.all(ch * cw <= 8000) and np.mean(ch * cw >= 0.04 * 8000) > 0.999


@pytest.mark.parametrize("device", DEVICES)
def test_device_crop_flip_offsets_uniform(device):
    x = torch.arange(8 * 8, dtype=torch.uint8).reshape(1, 1, 8, 8).expand(3000, 3, 8, 8).contiguous().to(device)
    out = data.augment_batch(x, "crop_flip", torch.Generator(device).manual_seed(0)).cpu()
    # the centre pixel moves by the crop offset; each of the 9 x 9 offsets (and flips) appears
    assert len({tuple(o[0, :2, :2].flatten().tolist()) for o in out}) > 100


def test_iterate_batches_draws_on_the_batch_device_from_a_seeded_generator():
    """On a GPU the loader draws boxes from a device generator seeded by the host one (CPU here: the
    helper alone; with CUDA: a whole epoch, seeded)."""
    from paperlib.data import loading

    g1 = loading._device_generator(torch.Generator().manual_seed(5), torch.device("cpu"))
    g2 = loading._device_generator(torch.Generator().manual_seed(5), torch.device("cpu"))
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    if not torch.cuda.is_available():
        return
    split = data.Split(
        "synthetic",
        "train",
        np.zeros(64, dtype=np.int64),
        images=torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8),
    )
    run = [
        x
        for x, _ in data.iterate_batches(
            split,
            np.zeros(64),
            batch_size=16,
            train=True,
            augment="rrc_flip",
            generator=torch.Generator().manual_seed(0),
            device="cuda",
        )
    ]
    again = [
        x
        for x, _ in data.iterate_batches(
            split,
            np.zeros(64),
            batch_size=16,
            train=True,
            augment="rrc_flip",
            generator=torch.Generator().manual_seed(0),
            device="cuda",
        )
    ]
    assert all(a.is_cuda and torch.equal(a, b) for a, b in zip(run, again))
