"""Training losses on superclass logits.

Implemented: softmax cross-entropy (the paper's default) and the rescaled squared error of
Hui & Belkin used by the authors' code (Sec. 6.2). The other losses of Kornblith et al. (2021)
(Sec. 6.3) belong to the losses chapter and are added there.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from . import names

__all__ = ["LOSSES", "get_loss", "softmax_cross_entropy", "squared_error"]


def softmax_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    """
    return F.cross_entropy(logits.float(), target)


def squared_error(logits: torch.Tensor, target: torch.Tensor, k: float = 9.0, m: float = 60.0) -> torch.Tensor:
    """Rescaled squared error (Hui & Belkin 2021), as in the authors' code.

    Per example ``sum(((k - 1) * onehot + 1) * (m * onehot - logits) ** 2) / 10``, averaged over the
    batch.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    k, m : float
        Weight of the true class's term and the target value for the true class.
    """
    onehot = F.one_hot(target, logits.shape[1]).to(torch.float32)
    per = (((k - 1) * onehot + 1) * (m * onehot - logits.float()) ** 2).sum(dim=1) / 10.0
    return per.mean()


#: The implementation of every name of :data:`paperlib.names.LOSSES`.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "softmax": softmax_cross_entropy,
    "squared_error": squared_error,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function called ``name``; unknown names raise ``ValueError`` listing valid ones."""
    return LOSSES[names.check("loss", name)]
