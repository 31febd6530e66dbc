"""The smoke world is a miniature of the paper's situation; checked on the data, before any network.

BREEDS' subclasses of one superclass look alike (a strong shared superclass trait, a weak subclass
trait the label does not need); a shuffled superclass gathers unrelated subclasses. So Ward on raw
pixels must barely find the subclasses within a standard superclass and clearly find them within a
shuffled one, and the training augmentation (a flip) must not turn one subclass into another.
"""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeClassifier
from sklearn.neighbors import KNeighborsClassifier

from paperlib import config, data, experiment


def test_synthetic_is_deterministic_and_shaped_like_entity13():
    a = data.load_split("synthetic", "train")
    b = data.load_split("synthetic", "train")
    assert torch.equal(a.images, b.images)
    n_sub = len(data.SYN_SHAPES) * data.SYN_VARIANTS
    assert a.images.shape == (n_sub * data.SYN_SIZES["train"], 3, 32, 32) and a.images.dtype == torch.uint8
    h = data.base_hierarchy("synthetic")
    assert h.n_superclasses == 4 and h.subclasses_per_superclass == (4, 4, 4, 4)  # as entity-13 in the paper
    v = data.load_split("synthetic", "val")
    assert not torch.equal(v.images[:10], a.images[:10])
    with pytest.raises(ValueError, match="0..15"):
        data.synthetic_images(np.array([16]), seed=0)


def test_raw_pixel_ward_finds_shuffled_not_standard_subclasses():
    px = experiment.pixel_scores(config.get_profile("smoke"), factors=[1, 3]).set_index(["hierarchy", "factor"])
    for f in (1, 3):
        assert abs(px.loc[("standard", f), "ami"]) < 0.05, px
        assert px.loc[("shuffled", f), "ami"] > 0.3, px


def _spectrum(images: torch.Tensor) -> np.ndarray:
    """2-D power spectrum of the grey image, (n, H * W): orientation-sensitive, phase-free."""
    g = images.float().mean(1)
    g = g - g.mean((1, 2), keepdim=True)
    return torch.fft.fftshift(torch.fft.fft2(g).abs().log1p(), dim=(-2, -1)).flatten(1).numpy()


def test_subclass_trait_is_texture_not_colour_and_survives_a_flip():
    tr, va = data.load_split("synthetic", "train"), data.load_split("synthetic", "val")
    variant = lambda s: s.subclass % data.SYN_VARIANTS  # noqa: E731 - the subclass within its superclass
    # colour says nothing about the subclass within a superclass (the old generator: 1.00 from mean RGB)
    rgb = lambda s: s.images.float().mean((2, 3)).numpy() / 255  # noqa: E731
    sup = lambda s: s.subclass // data.SYN_VARIANTS  # noqa: E731
    colour = np.mean([
        KNeighborsClassifier(15).fit(rgb(tr)[sup(tr) == k], variant(tr)[sup(tr) == k])
        .score(rgb(va)[sup(va) == k], variant(va)[sup(va) == k])
        for k in range(len(data.SYN_SHAPES))
    ])
    assert colour < 0.4, colour  # chance 0.25
    # the texture's spectrum does, and a horizontal flip keeps it
    clf = RidgeClassifier(alpha=10.0).fit(_spectrum(tr.images), variant(tr))
    plain = clf.score(_spectrum(va.images), variant(va))
    flipped = clf.score(_spectrum(va.images.flip(-1)), variant(va))
    assert plain > 0.8, plain
    assert flipped > plain - 0.05, (plain, flipped)
