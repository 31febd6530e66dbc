"""Batches for training and evaluation: image files decoded on the fly (:class:`ImageFiles`) or once into a cache (:func:`decode_once`), and :func:`iterate_batches`."""

from __future__ import annotations

import hashlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import cache, config, names
from .augment import augment_batch, centre_crop_whole, colour_distort, to_device
from .images import to_rgb
from .preprocess import Preprocess
from .split import Split

__all__ = ["ImageFiles", "iterate_batches", "WHOLE_MAX_ASPECT", "decode_once"]


class ImageFiles(torch.utils.data.Dataset):
    """Image files decoded to uint8 tensors ``(3, size, size)``, with the paper's transforms.

    Training: random resized crop (area 5-100 %) and horizontal flip (the authors' code);
    evaluation: resize the shorter side to ``resize`` (default ``size * 256 / 224``, bilinear) then
    centre crop ``size``. With ``preprocess`` (:class:`Preprocess`), evaluation resizes to
    ``round(size / preprocess.crop_pct)`` with ``preprocess.interpolation`` instead (``size`` stays
    the crop; an explicit ``resize`` still wins).
    """

    def __init__(
        self,
        paths: list[str],
        targets: np.ndarray,
        size: int,
        train: bool,
        resize: int | None = None,
        preprocess: Preprocess | None = None,
    ):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import v2 as T

        self.paths, self.targets = paths, np.asarray(targets, dtype=np.int64)
        if train:
            self.transform = T.Compose(
                [
                    T.RandomResizedCrop(size, scale=(0.05, 1.0), antialias=True),
                    T.RandomHorizontalFlip(),
                    T.PILToTensor(),
                ]
            )
        else:
            if preprocess is None:
                resize = resize or round(size * 256 / 224)
                interp = InterpolationMode.BILINEAR
            else:
                resize = resize or round(size / preprocess.crop_pct)
                interp = InterpolationMode(preprocess.interpolation)
            self.transform = T.Compose(
                [T.Resize(resize, interpolation=interp, antialias=True), T.CenterCrop(size), T.PILToTensor()]
            )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            img = self.transform(to_rgb(im))
        return img, int(self.targets[i])


def _device_generator(g: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded by one draw of the host generator ``g``: a batch on a GPU gets its
    crop boxes, flips and offsets drawn there (:func:`augment_batch`), by the same rule as on the host
    (the same distribution, another random stream), without host work or a copy per batch. Still
    seeded: the same ``g`` gives the same crops."""
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    return torch.Generator(device).manual_seed(seed)


def iterate_batches(
    split: Split,
    targets: np.ndarray,
    *,
    batch_size: int,
    train: bool,
    augment: str = "none",
    image_size: int | None = None,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str | None = None,
    augment_generator: torch.Generator | None = None,
    preprocess: Preprocess | None = None,
    view_generators: list[torch.Generator] | None = None,
    view_params: Sequence[dict] | None = None,
):
    """Yield ``(images, targets)`` batches: uint8 ``(batch, 3, S, S)`` and int64 ``(batch,)``.

    With ``view_generators`` (training, in-memory images only) ``images`` is instead a tuple of views of
    the same images, one per generator: each the training augmentation (``augment``) and then the colour
    distortion (:func:`colour_distort`, with the overrides ``view_params[i]`` of view ``i``, e.g. one of
    :data:`BYOL_VIEWS`; default none), both drawn from that view's own generator (BYOL's two views;
    ``augment_generator`` is then unused).

    ``preprocess`` (:class:`Preprocess`, evaluation of image files only): its interpolation and
    ``crop_pct`` replace the default resize (``image_size`` defaults to ``preprocess.size``);
    in-memory splits and training batches ignore it.

    The batch order comes from ``generator`` (the same on every rank, so the ranks split one global
    batch); the augmentation from ``augment_generator`` (default ``generator``), which each DDP rank
    seeds differently so that no two ranks draw the same crops and flips.

    Training batches come in a seeded random order, with the last incomplete batch dropped
    (unless it is the only one), the global batch split across ``world_size`` ranks; evaluation
    batches keep the split's order. In-memory images are moved to ``device`` (if given) before
    augmentation, so a GPU augments whole batches; there the crop boxes are drawn on the GPU too, from
    a generator seeded by one draw of ``augment_generator`` (the same distribution as on the host). Images decoded once (:func:`decode_once`) are
    centre-cropped to ``image_size`` for evaluation, which equals the usual resize-256/crop-224
    (``layout="centre"``: a slice of the stored square; ``layout="whole"``:
    :func:`centre_crop_whole`); in training, images decoded whole get their random resized crop
    from the whole image (:func:`augment_batch` with ``extent``).
    """
    n = len(split)
    aug = augment_generator if augment_generator is not None else generator
    if view_generators is not None and (not train or split.images is None or not view_generators):
        raise ValueError(
            "views (view_generators) are training batches of in-memory images: decode image files "
            "once first (TrainConfig.decode_size, data.decode_once)"
            if split.images is None
            else "view_generators needs train=True and at least one generator"
        )
    if view_params is not None and (view_generators is None or len(view_params) != len(view_generators)):
        raise ValueError(
            f"view_params needs one dict per view generator, got {len(view_params)} "
            f"for {0 if view_generators is None else len(view_generators)} generators"
        )
    if train:
        order = torch.randperm(n, generator=generator).numpy()
        n_batches = max(1, n // batch_size)
        batches = [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]
        batches = [b[rank::world_size] for b in batches]
    else:
        batches = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    targets = np.asarray(targets, dtype=np.int64)
    if split.images is not None:
        on_gpu = split.images.device.type == "cuda"
        pin_labels = device is not None and torch.device(device).type == "cuda"  # async label copies in train_step
        for idx in batches:
            take = torch.from_numpy(np.sort(idx) if split.decoded else idx)
            x = split.images[to_device(take, split.images.device) if on_gpu else take]
            if split.decoded:  # sorted reads from the memory map, then back to the sampled order
                x = x[torch.from_numpy(np.argsort(np.argsort(idx)))]
            ext = None if split.extent is None else split.extent[torch.from_numpy(idx)]
            if device is not None:  # pinned and asynchronous on a GPU: no wait for the queued step
                x = to_device(x, device)
            if view_generators is not None:
                x = tuple(
                    colour_distort(augment_batch(x, augment, g, image_size, extent=ext), g, vp)
                    for g, vp in zip(view_generators, view_params or [None] * len(view_generators))
                )
            elif train:
                if x.device.type == "cuda" and aug.device != x.device:  # boxes drawn on the GPU (issue 22)
                    aug = _device_generator(aug, x.device)
                x = augment_batch(x, augment, aug, image_size, extent=ext)
            elif ext is not None:
                x = centre_crop_whole(x, ext, image_size or round(x.shape[-2] * 224 / 256), x.shape[-2])
            elif split.decoded and image_size is not None and x.shape[-1] != image_size:
                o = (x.shape[-1] - image_size) // 2
                x = x[..., o : o + image_size, o : o + image_size]
            elif image_size is not None and x.shape[-1] != image_size:
                import torchvision.transforms.v2.functional as TF

                x = TF.resize(x, [image_size, image_size], antialias=True)
            y = torch.from_numpy(targets[idx])
            yield x, (y.pin_memory() if pin_labels else y)
        return
    if preprocess is not None and not train:
        ds = ImageFiles(split.paths, targets, image_size or preprocess.size, train, preprocess=preprocess)
    else:
        ds = ImageFiles(split.paths, targets, image_size or 224, train)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=aug)) if aug is not None else 0
    loader = torch.utils.data.DataLoader(
        ds,
        batch_sampler=[b.tolist() for b in batches],
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    yield from loader


#: Canvas aspect of :func:`decode_once`'s ``"whole"`` layout: ``size x round(size * 4/3)``.
WHOLE_MAX_ASPECT = 4 / 3


def _whole_shape(height: int, width: int, size: int, long: int) -> tuple[int, int]:
    """Side lengths ``(h, w)`` of an image fitted whole, aspect kept, into ``size x long`` (either way round).

    The shorter side becomes ``size`` if the longer then fits in ``long``; otherwise the longer side
    becomes ``long`` and the shorter one less than ``size``.
    """
    short, lng = min(height, width), max(height, width)
    new_long = round(lng * size / short)
    if new_long <= long:
        new_short = size
    else:
        new_short, new_long = max(1, round(short * long / lng)), long
    return (new_short, new_long) if width >= height else (new_long, new_short)


class _WholeImageFiles(torch.utils.data.Dataset):
    """Image files resized whole into a ``size x long`` canvas (portrait ones transposed).

    Items: ``(canvas, extent)``: uint8 ``(3, size, long)``, the image in the top-left corner and
    its last row and column repeated into the rest (so bilinear sampling at the image's edge never
    reads anything but the image), and int32 ``(3,)`` ``(height, width, transposed)``.
    """

    def __init__(self, paths: list[str], size: int, long: int):
        self.paths, self.size, self.long = paths, int(size), int(long)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torchvision.transforms.v2.functional as TF
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            im = to_rgb(im)
            h, w = _whole_shape(im.height, im.width, self.size, self.long)
            x = TF.pil_to_tensor(TF.resize(im, [h, w], antialias=True))
        t = h > w
        if t:
            x = x.transpose(1, 2)
        arr = np.pad(x.numpy(), ((0, 0), (0, self.size - x.shape[1]), (0, self.long - x.shape[2])), mode="edge")
        return torch.from_numpy(np.ascontiguousarray(arr)), torch.tensor([h, w, int(t)], dtype=torch.int32)


def _decode_into(
    split: Split, f: Path, meta: Path, ext_f: Path, layout: str, shape: tuple, num_workers: int, progress: bool
) -> None:
    """Decode ``split``'s files into ``f`` (a ``.npy`` of ``shape``) through a temporary memory map
    renamed into place, then the extents (``layout="whole"``) and ``meta`` (size and SHA-256 of ``f``)."""
    from tqdm.std import tqdm

    cache.discard(meta)
    for stale in f.parent.glob(f".{f.name}.*.tmp"):  # left by a killed run; we hold the lock
        stale.unlink(missing_ok=True)
    size = shape[2]
    if layout == "centre":
        files = ImageFiles(split.paths, split.subclass, size, train=False, resize=size)
    else:
        files = _WholeImageFiles(split.paths, size, shape[-1])
    extent = np.zeros((len(split), 3), dtype=np.int32)
    loader = torch.utils.data.DataLoader(files, batch_size=64, num_workers=num_workers)
    with cache.atomic_path(f) as tmp:  # a memory map filled in place, renamed when complete
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        i = 0
        for x, e in tqdm(
            loader,
            desc=f"decode {split.dataset}/{split.split} once",
            disable=not progress,
            file=sys.stderr,
            mininterval=2.0,
        ):
            arr[i : i + len(x)] = x.numpy()
            if layout == "whole":
                extent[i : i + len(x)] = e.numpy()
            i += len(x)
        arr.flush()
        del arr
    if layout == "whole":
        cache.save(ext_f, {"extent": extent})
    cache.save(
        meta, {"bytes": f.stat().st_size, "sha256": cache.file_sha256(f), "shape": list(shape), "layout": layout}
    )


def decode_once(
    split: Split,
    size: int,
    cache_dir: str | Path | None = None,
    num_workers: int = 0,
    progress: bool = True,
    layout: str | None = None,
) -> Split:
    """Decode a split's image files once into a cached uint8 array and use it from then on.

    Two layouts:

    ``"whole"`` (default for the training split)
        Every image is resized, aspect kept, so that the *whole* image fits a canvas of
        ``size x round(size * 4/3)`` (:data:`WHOLE_MAX_ASPECT`; portrait images are stored
        transposed so their longer side runs along the canvas's width): its shorter side becomes
        ``size`` if its aspect is at most 4:3, else its longer side becomes ``round(size * 4/3)``.
        It sits in the canvas's top-left corner, the rest filled by repeating its last row and
        column; its own ``(height, width, transposed)`` is kept in :attr:`~paperlib.data.Split.extent`. Training
        then draws each random resized crop from the whole image, by torchvision's
        ``RandomResizedCrop`` rule on that image's own size (:func:`augment_batch`), as the authors'
        crop of the full decoded JPEG does. Resolution, relative to the ``"centre"`` square of the
        same ``size``: unchanged for images of aspect up to 4:3 (both store the shorter side at
        ``size``; ImageNet's usual 4:3 and 3:4 images), ``(4/3) / a`` in each direction for a wider
        aspect ``a`` (3:2: 0.89; 16:9: 0.75; 2:1: 0.67). Against cropping the original JPEG, every
        crop is resampled from the shorter-side-``size`` image (256 for 224-pixel models) rather
        than the full-size file, as with the old square, bilinearly and without antialiasing (a crop
        wider than the output shrinks by at most 341/224 = 1.5x for 224-pixel models, against
        256/224 = 1.14x within the square). Memory: ``size * round(size * 4/3)`` pixels
        per image, 4/3 of the square (entity-13's ~67,600 training images at 256: 17.7 GB instead
        of 13.3 GB, memory-mapped). Evaluation batches of such a split use
        :func:`centre_crop_whole`.
    ``"centre"`` (default for every other split: the validation images)
        Every image is resized (shorter side ``size``) and centre-cropped to ``size x size``, the
        evaluation transform's frame: the centre ``image_size`` crop of it is exactly the usual
        resize-``size`` / centre-crop-``image_size``. (Used for training, this layout would limit
        the random crops to the central square; pass it explicitly to get that old behaviour.)

    The array is one ``(n_images, 3, H, W)`` uint8 ``.npy`` file under ``<cache>/decoded/<key>/``
    (key: the file list, ``size`` and the layout), written to a temporary file and renamed
    (:func:`paperlib.cache.atomic_path`) under the entry's lock (:func:`paperlib.cache.lock`: a
    second process waits, then loads it), with a SHA-256 checksum (:func:`paperlib.cache.file_sha256`)
    verified on every load (a truncated or corrupt file is rebuilt); the extents are a checksummed
    ``extent.npz`` beside it. No JPEG is decoded twice.

    Parameters
    ----------
    split : Split
        A split of image files (``split.paths``); in-memory splits are returned unchanged.
    size : int
        Stored shorter side, e.g. 256 for 224-pixel models.
    layout : {"whole", "centre"}, optional
        Default ``"whole"`` for ``split.split == "train"``, else ``"centre"``.

    Returns
    -------
    Split
        The same images in the same order, in memory (memory-mapped), with ``decoded=True``;
        ``images`` of shape ``(n, 3, size, round(size * 4/3))`` and ``extent`` ``(n, 3)`` for
        ``"whole"``, ``(n, 3, size, size)`` and ``extent=None`` for ``"centre"``.
    """
    if split.paths is None:
        return split
    if layout is None:
        layout = "whole" if split.split == "train" else "centre"
    names.check("layout", layout)
    size = int(size)
    shape = (len(split), 3, size, size if layout == "centre" else round(size * WHOLE_MAX_ASPECT))
    key = {
        "files": hashlib.sha256("\n".join(split.paths).encode()).hexdigest(),
        "n": len(split),
        "size": size,
        "layout": layout,
        "shape": list(shape),
    }
    d = cache.artifact_dir(config.cache_root(cache_dir), "decoded", key)
    f, meta, ext_f = d / "images.npy", d / "meta.json", d / "extent.npz"

    def complete() -> bool:
        done = cache.is_valid(meta) and f.exists() and f.stat().st_size == cache.load(meta)["bytes"]
        return done and (layout == "centre" or cache.is_valid(ext_f))

    ok = complete()
    if ok and cache.file_sha256(f) != cache.load(meta)["sha256"]:
        warnings.warn(f"rebuilding corrupt decoded images {f}", stacklevel=2)
        ok = False
    if not ok:
        with cache.lock(d, what=f"to decode {d}"):
            # checked again under the lock: another process may just have written them
            if not (complete() and cache.file_sha256(f) == cache.load(meta)["sha256"]):
                _decode_into(split, f, meta, ext_f, layout, shape, num_workers, progress)
    arr = np.load(f, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only memory map: never written through
        images = torch.from_numpy(arr)
    extent_t = torch.from_numpy(cache.load(ext_f)["extent"]) if layout == "whole" else None
    return Split(split.dataset, split.split, split.subclass, images=images, decoded=True, extent=extent_t)
