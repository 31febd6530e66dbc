"""Galleries (paperlib.gallery): seeded selection and the drawn figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paperlib import gallery  # noqa: E402


def _labels(seed=0):
    rng = np.random.default_rng(seed)
    clusters = np.repeat([3, 0, 7, 1], [30, 12, 2, 20])  # cluster 7 has only 2 images
    rng.shuffle(clusters)
    subclass = rng.integers(0, 4, len(clusters))
    subclass[clusters == 1] = 2  # cluster 1 is pure
    return clusters, subclass


def test_selection_is_deterministic_for_a_seed():
    c, s = _labels()
    a = gallery.select_gallery(c, s, n_per_cluster=5, seed=3)
    assert a == gallery.select_gallery(c, s, n_per_cluster=5, seed=3)
    assert a != gallery.select_gallery(c, s, n_per_cluster=5, seed=4)
    # a cluster's sample does not depend on which other clusters are shown
    assert gallery.select_gallery(c, s, 5, seed=3, max_clusters=1) == a[:1]


def test_selected_images_belong_to_their_cluster_and_short_clusters_give_all():
    c, s = _labels()
    sel = gallery.select_gallery(c, s, n_per_cluster=5, seed=0)
    assert [cid for cid, _ in sel] == [3, 1, 0, 7]  # by size: 30, 20, 12, 2
    for cid, idx in sel:
        assert all(c[i] == cid for i in idx)
        assert len(set(idx)) == len(idx) == min(5, int((c == cid).sum()))
        assert idx == sorted(idx)
    assert sel[-1][1] == np.flatnonzero(c == 7).tolist()
    big = gallery.select_gallery(c, s, n_per_cluster=100, seed=0)
    assert sorted(i for _, idx in big for i in idx) == list(range(len(c)))


def test_orders():
    c, s = _labels()
    by_purity = gallery.select_gallery(c, s, 3, order="purity")
    assert by_purity[0][0] == 1  # the pure cluster first
    pur = gallery.cluster_purity(c, s)
    assert [pur[cid] for cid, _ in by_purity] == sorted(pur.values(), reverse=True)
    assert [cid for cid, _ in gallery.select_gallery(c, s, 3, order="id")] == [0, 1, 3, 7]
    with pytest.raises(ValueError, match="unknown order"):
        gallery.select_gallery(c, s, 3, order="random")
    with pytest.raises(ValueError, match="n_per_cluster"):
        gallery.select_gallery(c, s, 0)
    with pytest.raises(ValueError, match="one length"):
        gallery.select_gallery(c, s[:-1], 3)


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)


def test_plot_gallery_from_arrays():
    c, s = _labels()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(c), 3, 16, 16), dtype=np.uint8)
    names = ["cat", "dog", "fox", "owl"]
    sel = gallery.select_gallery(c, s, n_per_cluster=4, seed=0)
    fig = gallery.plot_gallery(images, sel, names, subclass_labels=s, title="toy superclass")
    try:
        axes = fig.axes
        assert len(axes) == len(sel) * 4  # rows x columns, blank cells included
        grid = np.array(axes).reshape(len(sel), 4)
        for r, (cid, idx) in enumerate(sel):
            for col in range(4):
                ax = grid[r, col]
                if col < len(idx):
                    assert ax.get_title() == names[s[idx[col]]]
                    assert len(ax.images) == 1
                else:
                    assert not ax.axison and len(ax.images) == 0
            assert grid[r, 0].get_ylabel() == f"cluster {cid}"
        px = _pixels(fig)
        assert px.std() > 10  # not blank
    finally:
        plt.close(fig)


def test_plot_gallery_from_files_and_float_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    paths = []
    for i in range(6):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    c = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0, 1, 1, 2, 2, 2])
    sel = gallery.select_gallery(c, s, 2, seed=0)
    fig = gallery.plot_gallery(
        paths, sel, {0: "a", 1: "b", 2: "c"}, subclass_labels=s, thumb=24, row_labels=["first", "second"]
    )
    try:
        assert len(fig.axes) == 4
        assert fig.axes[0].images[0].get_array().shape[:2] == (24, 24)
        assert fig.axes[0].get_ylabel() == "first"
        assert _pixels(fig).std() > 10
    finally:
        plt.close(fig)
    gray = rng.random((6, 1, 8, 8)).astype(np.float32)  # float 0..1, one channel
    fig = gallery.plot_gallery(gray, sel, ["a", "b", "c"], subclass_labels=s)
    try:
        assert len(fig.axes) == 4 and _pixels(fig).std() > 10
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="empty selection"):
        gallery.plot_gallery(gray, [], ["a"], subclass_labels=s)


def test_stack_keeps_every_figure_at_its_pixel_size():
    """plots.stack: one figure per row, each at its own size (a chapter glues one figure for any number of seeds)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from paperlib import plots

    figs = [plt.figure(figsize=(4, 2), dpi=50), plt.figure(figsize=(3, 1), dpi=50)]
    figs[0].add_subplot().imshow(np.zeros((4, 4)))
    out = plots.stack(figs, dpi=50)
    assert tuple(out.get_size_inches()) == (4.0, 3.0)
    images = [ax.get_images()[0].get_array() for ax in out.axes]
    assert [im.shape[:2] for im in images] == [(100, 200), (50, 150)]
    with pytest.raises(ValueError, match="at least one"):
        plots.stack([])
    plt.close("all")
