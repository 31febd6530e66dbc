"""The :class:`Split` every dataset reader returns, and :class:`DataNotFound`, which they raise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DataNotFound", "Split"]


class DataNotFound(FileNotFoundError):
    """A dataset is not where the data root says; the message says what to put where."""


@dataclass
class Split:
    """One split of a dataset.

    Attributes
    ----------
    subclass : numpy.ndarray of int64, shape ``(n_images,)``
        Fine labels (the hidden subclasses).
    images : torch.Tensor of uint8, shape ``(n_images, 3, H, W)``, or None
        In-memory images (synthetic, CIFAR-100).
    paths : list of str, or None
        Image files (ImageNet/BREEDS), decoded on the fly.
    decoded : bool
        ``images`` were decoded once from files (:func:`paperlib.data.decode_once`) at a side
        larger than the model's input.
    extent : torch.Tensor of int32, shape ``(n_images, 3)``, or None
        Set for images decoded whole (:func:`paperlib.data.decode_once`, ``layout="whole"``): per
        image its ``(height, width, transposed)`` in its own orientation; the image fills rows
        ``0..height`` and columns ``0..width`` of its canvas, or the transposed rectangle if
        ``transposed`` is 1. None: every image fills its whole array.
    """

    dataset: str
    split: str
    subclass: np.ndarray
    images: torch.Tensor | None = None
    paths: list[str] | None = None
    decoded: bool = False  # images were decoded once from files at a side larger than the model's input
    extent: torch.Tensor | None = None  # (n, 3) int32: height, width, transposed of each whole-decoded image

    def __len__(self) -> int:
        return len(self.subclass)

    def subset(self, index: np.ndarray) -> Split:
        """The images at ``index`` (1-D integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return Split(
            dataset=self.dataset,
            split=self.split,
            subclass=self.subclass[index],
            images=None if self.images is None else self.images[torch.from_numpy(index)],
            paths=None if self.paths is None else [self.paths[i] for i in index],
            decoded=self.decoded,
            extent=None if self.extent is None else self.extent[torch.from_numpy(index)],
        )

    def per_subclass(self, n: int | None) -> Split:
        """Keep the first ``n`` images of every subclass (all if ``n`` is None)."""
        if n is None:
            return self
        keep = np.concatenate([np.flatnonzero(self.subclass == c)[:n] for c in np.unique(self.subclass)])
        return self.subset(np.sort(keep))
