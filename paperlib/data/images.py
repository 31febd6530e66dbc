"""One image file to 8-bit RGB, whatever its mode, and why a file cannot be read.

Every decoder of image files (:mod:`paperlib.data.loading`, :mod:`paperlib.data.folder`) turns a
PIL image into RGB through :func:`to_rgb`, which, unlike ``Image.convert("RGB")``, keeps 16-bit
images (PNG mode ``I;16`` or ``I``) as they look: ``convert`` clips every value above 255 to
white. :func:`image_problem` opens and decodes one file and says why it cannot be used.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["to_rgb", "image_problem", "BACKGROUND"]

#: What transparent pixels become: images with an alpha channel are composited onto white, as a
#: page shows them (dropping alpha would expose whatever colour the transparent pixels store).
BACKGROUND = (255, 255, 255)

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def to_rgb(im):
    """An 8-bit RGB copy of the PIL image ``im``, for any mode.

    - ``RGB``: as is. ``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: PIL's conversion.
    - 16-bit grey (``I;16``, ``I;16B``, ``I;16L``; ``I``, as PIL reads some 16-bit PNGs): the full
      0-65535 range mapped onto 0-255 (value / 257, rounded), never clipped.
    - ``F`` (32-bit float): values in [0, 1] scaled to 0-255, others clipped to it.
    - With transparency (``RGBA``, ``LA``, ``PA``, ``P`` or ``L`` with a transparent colour):
      composited onto :data:`BACKGROUND`.

    Examples
    --------
    >>> from PIL import Image
    >>> import numpy as np
    >>> im = Image.fromarray(np.full((2, 2), 30000, dtype=np.uint16))
    >>> im.mode, to_rgb(im).getpixel((0, 0))
    ('I;16', (117, 117, 117))
    """
    from PIL import Image

    if im.mode == "RGB":
        return im.copy()
    if im.mode in _SIXTEEN_BIT:
        a = np.asarray(im).astype(np.float64)
        return Image.fromarray(np.rint(np.clip(a, 0, 65535) / 257).astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        scale = 255.0 if np.nanmax(a, initial=0.0) <= 1.0 else 1.0
        return Image.fromarray(np.rint(np.clip(np.nan_to_num(a) * scale, 0, 255)).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        page = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(page, rgba).convert("RGB")
    return im.convert("RGB")


def image_problem(path: str | Path, data: bytes | None = None) -> str | None:
    """Why the image file ``path`` cannot be used, or None.

    The file (or its bytes ``data``, already read) is opened, decoded and converted (:func:`to_rgb`).
    JPEGs are decoded at 1/8 scale (``draft``): every byte of the entropy-coded data is still read, so
    truncation is caught, at about half the cost of a full decode (``Image.verify`` alone does not
    notice a truncated JPEG). Files that are not images, corrupt or truncated files, and decompression
    bombs (more than twice ``PIL.Image.MAX_IMAGE_PIXELS``) are reported.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as im:
            im.draft(im.mode, (1, 1))  # no-op for formats other than JPEG
            im.load()
            to_rgb(im)
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError ... for bad data
        return f"{type(exc).__name__}: {exc}"
    return None
