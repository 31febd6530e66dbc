"""Training augmentation of uint8 batches (pad-crop-flip, random resized crop, BYOL's colour distortion) and the evaluation crop of images decoded whole."""

from __future__ import annotations

import math

import torch

from .. import names
from .preprocess import Preprocess, normalize

__all__ = [
    "BYOL_VIEWS",
    "COLOUR_DISTORTION",
    "augment_batch",
    "centre_crop_whole",
    "colour_distort",
    "gaussian_kernels",
]

#: BYOL's image distortion after the crop and flip (Grill et al. 2020, Table 6; lightly's ``BYOLView1Transform``
#: and ``BYOLView2Transform`` use the same numbers): colour jitter with probability ``p_jitter``
#: (brightness, contrast, saturation and hue factors drawn uniformly within the given spread), then
#: greyscale with probability ``p_grey``, then a Gaussian blur with probability ``p_blur`` (standard
#: deviation ``U[blur_sigma]`` pixels, a square kernel of ``blur_kernel`` of the image side, odd: 23 at 224),
#: then solarisation with probability ``p_solarize`` (values >= ``solarize_threshold`` of 255 inverted, as
#: PIL's ``ImageOps.solarize``). Blur and solarisation are off here; :data:`BYOL_VIEWS` sets them per view.
COLOUR_DISTORTION = {
    "p_jitter": 0.8,
    "brightness": 0.4,
    "contrast": 0.4,
    "saturation": 0.2,
    "hue": 0.1,
    "p_grey": 0.2,
    "p_blur": 0.0,
    "blur_sigma": (0.1, 2.0),
    "blur_kernel": 0.1,
    "p_solarize": 0.0,
    "solarize_threshold": 128,
}

#: The overrides of :data:`COLOUR_DISTORTION` for each of BYOL's two views, per :data:`paperlib.names.BYOL_VIEWS`.
#: ``"grill"``: Grill et al. 2020, Table 6 (blur always on the first view, with probability 0.1 on the
#: second; solarisation never on the first, with probability 0.2 on the second), the ``paper`` profile's.
#: ``"colour"``: colour jitter and greyscale only, the small profiles' (at 32x32 a blur of 10 % of the
#: side, tuned for 224-pixel photographs, smears the few pixels the synthetic textures are made of; the
#: cut is stated in the book's substitution table).
BYOL_VIEWS: dict[str, tuple[dict, dict]] = {
    "colour": ({}, {}),
    "grill": ({"p_blur": 1.0, "p_solarize": 0.0}, {"p_blur": 0.1, "p_solarize": 0.2}),
}

# Rec. 601 luma, the weights of torchvision's rgb_to_grayscale, and the YIQ transform whose chroma plane
# (I, Q) a hue shift rotates.
_LUMA = (0.299, 0.587, 0.114)
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def augment_batch(
    x: torch.Tensor,
    mode: str,
    generator: torch.Generator,
    out_size: int | None = None,
    extent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random training augmentation of a uint8 batch, vectorised, seeded by ``generator``.

    Works on whatever device ``x`` is on, so on a GPU the whole batch is augmented by a few kernels.
    Random numbers are drawn on ``generator``'s device: from a CPU generator (the default) the draws
    are those of earlier versions, bit for bit, and a seed gives the same batch on any device; from
    a generator on ``x``'s device (``torch.Generator("cuda")``) the crop boxes, flips and offsets are
    drawn there too, by the same rule (the same distribution, another random stream), so a step
    needs no host work and no host-to-device copy.

    Parameters
    ----------
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
    mode : {"crop_flip", "rrc_flip", "none"}
        ``"crop_flip"``: reflect-pad by 4 and crop back to ``H x W``, then flip (CIFAR practice);
        ``"rrc_flip"``: random resized crop of area 5-100 % (aspect 3/4-4/3, torchvision's sampling
        rule) resampled bilinearly to ``out_size``, then flip (the authors' code); ``"none"``: unchanged
        (with ``extent``: the evaluation centre crop, :func:`centre_crop_whole`).
    generator : torch.Generator
        The source of all randomness, on the CPU or on ``x``'s device: a given seed always gives the
        same batch.
    out_size : int, optional
        Output side for ``"rrc_flip"`` (default ``H``).
    extent : torch.Tensor of int, shape ``(batch, 3)``, optional
        Images decoded whole (:attr:`paperlib.data.Split.extent`): each image's own ``(height, width,
        transposed)`` inside its canvas. The crop box is then drawn per image from that image's
        whole area, by torchvision's ``RandomResizedCrop`` rule on an image of that size, and
        read through the transposition. Only ``"rrc_flip"`` and ``"none"`` take it.

    Returns
    -------
    torch.Tensor of uint8, shape ``(batch, 3, out_size, out_size)``
    """
    names.check("augmentation", mode)
    if extent is not None and mode == "none":
        return centre_crop_whole(x, extent, out_size or x.shape[-2], x.shape[-2])
    if mode == "none":
        return x
    b, _, h, w = x.shape
    dev = x.device
    if mode == "crop_flip":
        if extent is not None:
            raise ValueError("'crop_flip' needs images that fill their array; images decoded whole take 'rrc_flip'")
        padded = torch.nn.functional.pad(x.float(), (4, 4, 4, 4), mode="reflect").to(x.dtype)
        rdev = generator.device
        offs = to_device(torch.randint(0, 9, (b, 2), generator=generator, device=rdev), dev)
        flip = to_device(torch.rand(b, generator=generator, device=rdev) < 0.5, dev)
        rows = offs[:, :1] + torch.arange(h, device=dev)[None]  # (b, h)
        cols = offs[:, 1:] + torch.arange(w, device=dev)[None]  # (b, w)
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        bidx = torch.arange(b, device=dev)[:, None, None]
        return padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
    # mode == "rrc_flip"
    size = out_size or h
    if extent is None:
        top, left, ch, cw = _rrc_boxes(b, h, w, generator)
        transposed = None
    else:
        ext = extent.to(generator.device)
        top, left, ch, cw = _rrc_boxes(b, ext[:, 0].float(), ext[:, 1].float(), generator)
        transposed = ext[:, 2].bool()
    flip = torch.rand(b, generator=generator, device=generator.device) < 0.5
    return _resample_boxes(x, top, left, ch, cw, size, flip, transposed)


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``t`` on ``device``; a host tensor bound for a GPU goes through pinned memory, asynchronously.

    A copy from pageable host memory makes CUDA wait for every kernel already queued on the stream,
    so one such copy per batch keeps the host from queueing the next step while the GPU works on this
    one. Pinned, the copy is queued like a kernel. (The caching host allocator keeps the pinned
    buffer until the copy is done, so the caller may drop ``t`` at once.)
    """
    device = torch.device(device)
    if device.type != "cuda" or t.device.type == "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def model_input(x: torch.Tensor, stats: str | Preprocess, device: torch.device | str) -> torch.Tensor:
    """What a model's forward pass takes: uint8 images ``(batch, 3, H, W)`` on ``device``
    (:func:`to_device`), standardised (:func:`paperlib.data.normalize` with ``stats``, a dataset name or a
    :class:`Preprocess`), float32, and channels-last in memory on CUDA, as the models there are."""
    x = normalize(to_device(x, device), stats)
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cuda" else x


def _resample_boxes(
    x: torch.Tensor,
    top,
    left,
    ch,
    cw,
    size: int,
    flip: torch.Tensor | None = None,
    transposed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bilinear resampling of one box per image to ``size x size`` (uint8 in, uint8 out).

    ``top, left, ch, cw``: float tensors ``(batch,)``, the box in the image's own orientation, in
    pixels (pixel edges: the box covers ``[left, left + cw) x [top, top + ch)``). ``flip``: mirror
    the output horizontally; ``transposed``: the image is stored transposed in ``x`` (its rows are
    the array's columns).
    """
    b, _, H, W = x.shape
    d = top.device  # the boxes' device: the host, or the GPU where they were drawn
    sign = torch.ones(b, device=d) if flip is None else torch.where(flip, -1.0, 1.0)
    t = torch.zeros(b, dtype=torch.bool, device=d) if transposed is None else transposed.to(d)
    zero = torch.zeros(b, device=d)
    # affine map from output coordinates in [-1, 1] to the box in input coordinates
    theta = torch.zeros(b, 2, 3, dtype=torch.float32, device=d)
    theta[:, 0, 0] = torch.where(t, zero, sign * cw / W)
    theta[:, 0, 1] = torch.where(t, ch / W, zero)
    theta[:, 0, 2] = torch.where(t, (2 * top + ch) / W, (2 * left + cw) / W) - 1
    theta[:, 1, 0] = torch.where(t, sign * cw / H, zero)
    theta[:, 1, 1] = torch.where(t, zero, ch / H)
    theta[:, 1, 2] = torch.where(t, (2 * left + cw) / H, (2 * top + ch) / H) - 1
    grid = torch.nn.functional.affine_grid(to_device(theta, x.device), [b, 3, size, size], align_corners=False)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def centre_crop_whole(x: torch.Tensor, extent: torch.Tensor, out_size: int, resize: int) -> torch.Tensor:
    """Evaluation crop of images decoded whole: resize the shorter side to ``resize``, centre crop.

    Parameters
    ----------
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
        Canvases of :func:`paperlib.data.decode_once` with ``layout="whole"``.
    extent : torch.Tensor of int, shape ``(batch, 3)``
        :attr:`paperlib.data.Split.extent` of these images.
    out_size : int
        Output side (e.g. 224).
    resize : int
        The shorter side the original is resized to before cropping (e.g. 256; the decode size).

    Returns
    -------
    torch.Tensor of uint8, shape ``(batch, 3, out_size, out_size)``
        For an image stored with its shorter side equal to ``resize`` this copies the pixels of the
        usual resize-``resize`` / centre-crop-``out_size`` (integer box, no resampling).
    """
    ext = extent.cpu()
    h, w = ext[:, 0].float(), ext[:, 1].float()
    c = torch.minimum(h, w) * (out_size / resize)
    top, left = torch.round((h - c) / 2), torch.round((w - c) / 2)
    return _resample_boxes(x, top, left, c, c, out_size, None, ext[:, 2].bool())


def _rrc_boxes(n: int, h, w, g: torch.Generator, scale=(0.05, 1.0), ratio=(3 / 4, 4 / 3), tries: int = 10):
    """Random-resized-crop boxes for ``n`` images by torchvision's rule (10 tries, then its fallback).

    ``h, w``: the image size, ints (all images alike) or float tensors ``(n,)`` (one size per
    image). As ``torchvision.transforms.RandomResizedCrop.get_params``: area uniform in
    ``scale`` x image area, log-aspect uniform in ``ratio``, sides rounded, the first of ``tries``
    draws that fits, at a uniform integer position; if none fits, the central crop of the whole
    image clamped to ``ratio``.

    Returns float tensors ``top, left, height, width`` of shape ``(n,)``, on ``g``'s device (drawn and
    computed there: on a GPU without a host synchronisation).
    """
    d = g.device
    h = torch.as_tensor(h, dtype=torch.float32, device=d).expand(n)
    w = torch.as_tensor(w, dtype=torch.float32, device=d).expand(n)
    area = (h * w)[:, None]
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, tries, generator=g, device=d))
    logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(n, tries, generator=g, device=d)
    ar = torch.exp(logr)
    cw = torch.round(torch.sqrt(target * ar))
    ch = torch.round(torch.sqrt(target / ar))
    ok = (cw > 0) & (cw <= w[:, None]) & (ch > 0) & (ch <= h[:, None])
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1, device=d))
    idx = first.clamp(min=0)[:, None]
    # torchvision's fallback: the whole image, its aspect clamped to ``ratio``, centred
    in_ratio = w / h
    fw = torch.where(in_ratio < min(ratio), w, torch.where(in_ratio > max(ratio), torch.round(h * max(ratio)), w))
    fh = torch.where(in_ratio < min(ratio), torch.round(w / min(ratio)), h)
    cw = torch.where(first >= 0, cw.gather(1, idx)[:, 0], fw)
    ch = torch.where(first >= 0, ch.gather(1, idx)[:, 0], fh)
    u = torch.rand(n, 2, generator=g, device=d)
    top = torch.floor(u[:, 0] * (h - ch + 1))
    left = torch.floor(u[:, 1] * (w - cw + 1))
    top = torch.where(first >= 0, top, torch.div(h - ch, 2, rounding_mode="floor"))
    left = torch.where(first >= 0, left, torch.div(w - cw, 2, rounding_mode="floor"))
    return top, left, ch, cw


def colour_distort(x: torch.Tensor, generator: torch.Generator, params: dict | None = None) -> torch.Tensor:
    """BYOL's colour distortion of a uint8 batch, vectorised, seeded by ``generator`` (:data:`COLOUR_DISTORTION`).

    Per image, with probability ``p_jitter``: brightness (``x * b``), contrast (blend with the image's
    mean luma, factor ``c``), saturation (blend with the pixel's luma, factor ``s``) and hue (a rotation
    of the YIQ chroma plane by ``2 pi h``), in that fixed order (torchvision draws a random order), with
    ``b, c ~ U[1 - 0.4, 1 + 0.4]``, ``s ~ U[0.8, 1.2]``, ``h ~ U[-0.1, 0.1]`` and clipping to [0, 1] after
    each; then with probability ``p_grey`` the luma in all three channels. All random numbers are drawn on
    the CPU from ``generator``, so a seed gives the same batch on any device.

    Notes
    -----
    The hue shift rotates chroma in YIQ space, a linear stand-in for torchvision's HSV hue shift (the same
    direction and size of change, not the same pixels). Blur and solarisation follow, with the
    probabilities of ``params`` (both 0 by default; :data:`BYOL_VIEWS` gives Grill et al.'s per view):
    the blur is separable, with reflected borders (torchvision's ``GaussianBlur``); its random numbers
    are drawn only when ``p_blur > 0`` and the solarisation's only when ``p_solarize > 0``, so a
    distortion without them draws exactly what it drew before they existed.

    Parameters
    ----------
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
    generator : torch.Generator
        CPU generator.
    params : dict, optional
        Overrides of :data:`COLOUR_DISTORTION`.

    Returns
    -------
    torch.Tensor of uint8, shape ``(batch, 3, H, W)``, on ``x``'s device

    Examples
    --------
    >>> x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    >>> a = colour_distort(x, torch.Generator().manual_seed(0))
    >>> bool((a == colour_distort(x, torch.Generator().manual_seed(0))).all()), a.shape
    (True, torch.Size([4, 3, 8, 8]))
    """
    p = {**COLOUR_DISTORTION, **(params or {})}
    b = x.shape[0]
    u = torch.rand(b, 6, generator=generator)
    jitter = u[:, 0] < p["p_jitter"]
    grey = u[:, 1] < p["p_grey"]

    def factor(col: int, spread: float) -> torch.Tensor:  # U[1 - spread, 1 + spread], 1 where not jittered
        f = 1.0 - spread + 2.0 * spread * u[:, col]
        return to_device(torch.where(jitter, f, torch.ones(b)), x.device)[:, None, None, None]

    luma = torch.tensor(_LUMA, device=x.device)[None, :, None, None]
    y = x.float() / 255.0
    y = (y * factor(2, p["brightness"])).clamp_(0, 1)
    mean = (y * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    y = ((y - mean) * factor(3, p["contrast"]) + mean).clamp_(0, 1)
    g = (y * luma).sum(1, keepdim=True)
    y = ((y - g) * factor(4, p["saturation"]) + g).clamp_(0, 1)
    theta = torch.where(jitter, (2.0 * u[:, 5] - 1.0) * p["hue"] * 2.0 * math.pi, torch.zeros(b))
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(b, 3, 3)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = torch.linalg.inv(_YIQ) @ rot @ _YIQ  # (b, 3, 3): RGB -> YIQ, rotate chroma, back
    y = torch.einsum("bij,bjhw->bihw", to_device(m, x.device), y).clamp_(0, 1)
    g = (y * luma).sum(1, keepdim=True).expand_as(y)
    y = torch.where(to_device(grey, x.device)[:, None, None, None], g, y)
    if p["p_blur"] > 0:
        v = torch.rand(b, 2, generator=generator)
        lo, hi = p["blur_sigma"]
        y = _blur(y, v[:, 0] < p["p_blur"], lo + (hi - lo) * v[:, 1], p["blur_kernel"])
    out = (y * 255.0).round_().to(torch.uint8)
    if p["p_solarize"] > 0:
        sol = to_device(torch.rand(b, generator=generator) < p["p_solarize"], x.device)[:, None, None, None]
        out = torch.where(sol & (out >= p["solarize_threshold"]), 255 - out, out)
    return out


def gaussian_kernels(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels, one per standard deviation.

    Parameters
    ----------
    sigma : torch.Tensor, shape (n,)
        Standard deviations in pixels (> 0).
    size : int
        Odd kernel length.

    Returns
    -------
    torch.Tensor, shape (n, size)
        Each row sums to 1 and is symmetric about its centre.

    Examples
    --------
    >>> k = gaussian_kernels(torch.tensor([1.0]), 5)
    >>> k.shape, round(float(k.sum()), 6), bool(torch.allclose(k, k.flip(1)))
    (torch.Size([1, 5]), 1.0, True)
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    if not bool((sigma > 0).all()):
        raise ValueError("standard deviations must be > 0")
    t = torch.arange(size, dtype=torch.float32, device=sigma.device) - size // 2
    k = torch.exp(-0.5 * (t[None, :] / sigma.float()[:, None]) ** 2)
    return k / k.sum(1, keepdim=True)


def _blur(y: torch.Tensor, apply: torch.Tensor, sigma: torch.Tensor, kernel_frac: float) -> torch.Tensor:
    """Gaussian blur of the images of float ``y`` (b, 3, H, W) where ``apply``; separable, reflected borders."""
    if not bool(apply.any()):
        return y
    b, c, h, w = y.shape
    size = max(3, int(round(kernel_frac * min(h, w))) // 2 * 2 + 1)  # odd: 23 at 224 (Grill et al.)
    size = min(size, 2 * (min(h, w) - 1) + 1)  # reflection needs padding < side
    k = to_device(gaussian_kernels(sigma, size), y.device).repeat_interleave(c, 0)  # (b * 3, size)
    pad = size // 2
    z = y.reshape(1, b * c, h, w)
    z = torch.nn.functional.pad(z, (pad, pad, 0, 0), mode="reflect")
    z = torch.nn.functional.conv2d(z, k[:, None, None, :], groups=b * c)
    z = torch.nn.functional.pad(z, (0, 0, pad, pad), mode="reflect")
    z = torch.nn.functional.conv2d(z, k[:, None, :, None], groups=b * c)
    return torch.where(to_device(apply, y.device)[:, None, None, None], z.reshape(b, c, h, w), y)
