"""Which devices compute in float64.

Apple's MPS has no float64 (``Cannot convert a MPS Tensor to float64 dtype``), and other accelerators
may lack it too. Code that needs float64 (the probes' streaming statistics and curvature, the Ward
Gram matrix, BYOL's least-squares readout) computes it on :func:`float64_device` of the device it
runs on: that device where float64 is known to work (the CPU, CUDA), else the CPU.
"""

from __future__ import annotations

import torch

__all__ = ["FLOAT64_DEVICE_TYPES", "float64_device"]

#: Device types known to compute in float64.
FLOAT64_DEVICE_TYPES = ("cpu", "cuda")


def float64_device(device: str | torch.device) -> torch.device:
    """Where float64 work for ``device`` goes: ``device`` itself if its type is in :data:`FLOAT64_DEVICE_TYPES`,
    else the CPU.

    Examples
    --------
    >>> float64_device("cuda:1"), float64_device("mps"), float64_device("cpu")
    (device(type='cuda', index=1), device(type='cpu'), device(type='cpu'))
    """
    device = torch.device(device)
    return device if device.type in FLOAT64_DEVICE_TYPES else torch.device("cpu")
