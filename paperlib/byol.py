"""BYOL, the self-supervised model of Fig. 3 (Grill et al. 2020), from lightly's maintained pieces.

Sec. 6.1 of the paper compares the out-of-distribution clusters of supervised ResNet-50s with those
of a ResNet-50 trained by Bootstrap Your Own Latent (BYOL), which sees no label at all. Here BYOL is
one more training objective of :func:`paperlib.train.train_model` (``TrainConfig(loss="byol")``,
:data:`paperlib.names.SELF_SUPERVISED`): the same trainer, cache, checkpoints and resumption, EMA,
progress bar and augmentation, with

* two views of every image (:func:`paperlib.data.iterate_batches` with ``view_generators`` and
  ``view_params``): the training augmentation of the profile, then BYOL's distortion
  (:func:`paperlib.data.colour_distort`) with the view's overrides of ``TrainConfig.byol_views``
  (:data:`paperlib.data.BYOL_VIEWS`), each view from its own seeded generator. At ``paper``
  (``"grill"``): Grill et al.'s views, the numbers of lightly's ``BYOLView1Transform`` /
  ``BYOLView2Transform``: colour jitter (0.4, 0.4, 0.2, 0.1) with probability 0.8, greyscale 0.2,
  Gaussian blur (sigma U[0.1, 2] pixels, kernel 23 at 224) with probability 1.0 / 0.1 and
  solarisation with probability 0 / 0.2 for the first / second view. At ``smoke``, ``quick`` and
  ``cifar`` (``"colour"``): the smaller views, colour jitter and greyscale only, no blur or
  solarisation (a blur made for 224-pixel photographs smears 32x32 images);
* an *online* network, the paperlib model up to its penultimate layer (the input of its final layer,
  :func:`penultimate`) followed by lightly's ``BYOLProjectionHead`` and ``BYOLPredictionHead``, and a
  *target* network, a momentum copy of the backbone and the projection head
  (``lightly.models.utils.update_momentum``; no gradient: ``deactivate_requires_grad``) whose momentum
  follows ``lightly.utils.scheduler.cosine_schedule`` from ``momentum_base`` to 1 (:func:`momentum_at`);
* the symmetric loss ``(2 - 2 cos(p1, z2)) + (2 - 2 cos(p2, z1))``, averaged over the batch
  (:func:`byol_loss`, from ``lightly.loss.NegativeCosineSimilarity``).

The model it leaves is a model like any other of its architecture: the same ``state_dict`` keys and
probe points, so extraction, probes and :func:`paperlib.transfer.ood_scores` read it unchanged. Its
final layer, which BYOL never trains, holds a *linear readout* fitted after training
(:func:`fit_readout`: ridge regression of one-hot superclass labels on the frozen penultimate features
of the training split), so that "the accuracy it reached" is the readout's superclass accuracy on the
validation split (:data:`ACCURACY_OF`), stated as such wherever accuracy is shown. The heads and the
target network live in the epoch checkpoints (for resumption), not in the finished model.

Departures from the BYOL paper, all in :data:`HYPERPARAMETERS` or here: the optimiser is the trainer's
(SGD with momentum 0.9, weight decay 1e-4 on weights, linear warm-up then cosine, at the profile's
learning rate) instead of LARS at ``0.2 x batch / 256`` with weight decay 1.5e-6; the number of epochs is
the profile's (``Profile.byol_epochs``), not 300-1000; the crop is the profile's (at ``paper`` the
supervised models' random resized crop, area 0.05-1, where Grill et al. crop 0.08-1); below
``paper`` the views leave out blur and solarisation; heads narrower than a ResNet-50's for narrower backbones (:func:`head_dims`). The
paper itself evaluated the checkpoint released by Grill et al. (trained on all of ImageNet), which
``TrainConfig.pretrained`` reads instead of training (:func:`load_backbone`).

lightly is imported only when a BYOL model is built or its loss computed (it takes seconds to import).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoints, models
from .losses import Hyperparameter

__all__ = [
    "ACCURACY_OF",
    "BACKBONE_PREFIXES",
    "BYOL",
    "HYPERPARAMETERS",
    "byol_loss",
    "fit_readout",
    "head_dims",
    "hyperparameters",
    "load_backbone",
    "momentum_at",
    "penultimate",
]

_GRILL = "Grill et al. 2020, Bootstrap your own latent (NeurIPS), Sec. 3.2-3.3 and App. B/C"
_LIGHTLY = "lightly 1.6.0 examples (byol.py: cosine_schedule(step, max_steps, 0.996, 1); BYOLProjectionHead defaults)"
_HERE = "this project (the accuracy substitute of a model without a classifier)"

#: BYOL's hyperparameters, each with its source (``loss`` is ``"byol"``).
HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "byol",
        "momentum_base",
        0.996,
        "momentum of the target network at the first step; it rises to momentum_end along lightly's cosine_schedule",
        _GRILL + " (tau_base = 0.996); also " + _LIGHTLY,
    ),
    Hyperparameter("byol", "momentum_end", 1.0, "momentum of the target network at the last step", _GRILL),
    Hyperparameter(
        "byol",
        "hidden_dim",
        4096,
        "hidden units of the projection and prediction MLPs "
        "(ResNet-50; min(4096, 2 x feature dim) for narrower backbones)",
        _GRILL + "; " + _LIGHTLY,
    ),
    Hyperparameter(
        "byol",
        "output_dim",
        256,
        "output size of the projection and prediction MLPs "
        "(ResNet-50; min(256, feature dim / 2) for narrower backbones)",
        _GRILL + "; " + _LIGHTLY,
    ),
    Hyperparameter(
        "byol",
        "readout_ridge",
        1e-3,
        "ridge of the linear readout, as a fraction of the mean eigenvalue tr(X'X) / d of the features' second moment",
        _HERE,
    ),
)

#: What the accuracy of a BYOL model is (it has no classifier of its own).
ACCURACY_OF = "linear readout (ridge regression on frozen penultimate features of the training split)"


def hyperparameters() -> dict[str, float]:
    """BYOL's hyperparameters as ``{name: value}`` (:data:`HYPERPARAMETERS`).

    Examples
    --------
    >>> hyperparameters()["momentum_base"]
    0.996
    """
    return {h.name: h.value for h in HYPERPARAMETERS}


def head_dims(feature_dim: int) -> tuple[int, int]:
    """Hidden and output size of the projection and prediction heads for a backbone of ``feature_dim``.

    ResNet-50's 2048 features get BYOL's 4096 and 256; narrower backbones get ``2 x feature_dim`` hidden
    units and ``feature_dim / 2`` outputs (at least 16), so that the heads do not dwarf a small model.

    Examples
    --------
    >>> head_dims(2048), head_dims(64)
    ((4096, 256), (128, 32))
    """
    hp = hyperparameters()
    return min(int(hp["hidden_dim"]), 2 * feature_dim), max(16, min(int(hp["output_dim"]), feature_dim // 2))


def momentum_at(step: int, total_steps: int, base: float | None = None) -> float:
    """Momentum of the target network after optimisation step ``step`` (0-based) of ``total_steps``.

    lightly's ``cosine_schedule(step, total_steps, base, 1)``: ``1 - (1 - base) (cos(pi k / (K - 1)) + 1) / 2``,
    ``base`` at the first step and 1 at the last (BYOL's ``tau``).

    Examples
    --------
    >>> momentum_at(0, 100), momentum_at(99, 100)
    (0.996, 1.0)
    """
    from lightly.utils.scheduler import cosine_schedule

    hp = hyperparameters()
    return cosine_schedule(step, total_steps, hp["momentum_base"] if base is None else base, hp["momentum_end"])


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """BYOL's symmetric loss: ``mean(2 - 2 cos(p1, z2)) + mean(2 - 2 cos(p2, z1))``.

    Each term is the squared distance of the unit-normalised prediction of one view and target
    projection of the other (Grill et al., Eq. 2); the sum of both directions is Eq. 3's ``L + L~``.
    The targets are detached.

    Parameters
    ----------
    p1, p2 : torch.Tensor, shape ``(batch, dim)``
        Online predictions of view 1 and view 2.
    z1, z2 : torch.Tensor, shape ``(batch, dim)``
        Target projections of view 1 and view 2.

    Returns
    -------
    torch.Tensor, scalar float32, in [0, 8]
    """
    from lightly.loss import NegativeCosineSimilarity

    ncs = NegativeCosineSimilarity()
    return 4.0 + 2.0 * (ncs(p1.float(), z2.detach().float()) + ncs(p2.float(), z1.detach().float()))


def penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the model's final layer (its penultimate layer) for images ``x``, shape ``(batch, D)``.

    The whole model runs (its logits are dropped), so the features are exactly what the penultimate
    probe point and the classifier see.
    """
    head = models.final_layer(model)
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0]


class BYOL(nn.Module):
    """Online network (backbone, projection, prediction) and its momentum target, with BYOL's loss.

    Parameters
    ----------
    backbone : torch.nn.Module
        A model of :func:`paperlib.models.build_model`; its penultimate layer (:func:`penultimate`) is
        the representation. It is trained in place; the target is a copy of it made now.
    hidden_dim, output_dim : int, optional
        Sizes of the heads (default :func:`head_dims` of the backbone's feature size).

    Attributes
    ----------
    backbone, projection, prediction : torch.nn.Module
        The online network (trained).
    target_backbone, target_projection : torch.nn.Module
        The target network (no gradient; moved by :meth:`update_target`).
    """

    def __init__(self, backbone: nn.Module, hidden_dim: int | None = None, output_dim: int | None = None):
        super().__init__()
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        dim = models.final_layer(backbone).in_features
        hidden, out = head_dims(dim)
        hidden, out = hidden_dim or hidden, output_dim or out
        self.backbone = backbone
        self.projection = BYOLProjectionHead(dim, hidden, out)
        self.prediction = BYOLPredictionHead(out, hidden, out)
        self.target_backbone = copy.deepcopy(backbone)
        self.target_projection = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.target_backbone)
        deactivate_requires_grad(self.target_projection)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """BYOL's loss (:func:`byol_loss`) for two views ``(batch, 3, H, W)`` of the same images."""
        p1 = self.prediction(self.projection(penultimate(self.backbone, x1)))
        p2 = self.prediction(self.projection(penultimate(self.backbone, x2)))
        with torch.no_grad():
            z1 = self.target_projection(penultimate(self.target_backbone, x1))
            z2 = self.target_projection(penultimate(self.target_backbone, x2))
        return byol_loss(p1, p2, z1, z2)

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """``target <- momentum * target + (1 - momentum) * online`` for the backbone and the projection."""
        from lightly.models.utils import update_momentum

        update_momentum(self.backbone, self.target_backbone, momentum)
        update_momentum(self.projection, self.target_projection, momentum)

    def online_heads(self) -> nn.ModuleList:
        """The trained heads (the optimiser takes them with the backbone)."""
        return nn.ModuleList([self.projection, self.prediction])

    def heads_state(self) -> dict[str, torch.Tensor]:
        """Everything but the online backbone (heads and target network), for the epoch checkpoint."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_heads_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`heads_state` (strictly: anything missing but the backbone raises)."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("backbone.")]
        if missing or unexpected:
            raise KeyError(f"BYOL heads state does not fit: missing {missing[:8]}, unexpected {unexpected[:8]}")


@torch.no_grad()
def fit_readout(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n_classes: int, ridge: float | None = None
) -> None:
    """Fit the model's final layer as a linear readout of its frozen penultimate features (in place).

    Ridge regression of one-hot labels on the features with a bias, solved in float64 from the
    accumulated second moments: ``W = (X'X + lambda I)^-1 X'Y`` with ``lambda = ridge * tr(X'X) / d``
    (the bias not penalised). The model is evaluated as it is (call ``model.eval()`` first).

    Parameters
    ----------
    model : torch.nn.Module
        A model of :func:`paperlib.models.build_model`; its final layer is overwritten.
    batches : iterable of (images, labels)
        Normalised images ``(batch, 3, H, W)`` on the model's device and int64 labels ``(batch,)`` in
        ``[0, n_classes)``.
    n_classes : int
        The final layer's outputs.
    ridge : float, optional
        Default :data:`HYPERPARAMETERS` ``readout_ridge``.
    """
    head = models.final_layer(model)
    d = head.in_features
    xtx = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    xty = torch.zeros(d + 1, n_classes, dtype=torch.float64)
    for x, y in batches:
        h = penultimate(model, x).cpu().double()  # float64 on the CPU: MPS has none
        h = torch.cat([h, torch.ones(len(h), 1, dtype=torch.float64)], 1)
        xtx += h.T @ h
        xty += h.T @ F.one_hot(y.cpu().long(), n_classes).double()
    lam = (hyperparameters()["readout_ridge"] if ridge is None else ridge) * float(torch.trace(xtx[:d, :d])) / d
    reg = torch.full((d + 1,), max(lam, 1e-12), dtype=torch.float64)
    reg[d] = 0.0
    w = torch.linalg.solve(xtx + torch.diag(reg), xty)  # (d + 1, n_classes)
    head.weight.copy_(w[:d].T.to(head.weight))
    if head.bias is not None:
        head.bias.copy_(w[d].to(head.bias))


#: Key prefixes of other trainers' BYOL checkpoints, tried in order, that wrap a torchvision backbone.
BACKBONE_PREFIXES = ("", "backbone.", "encoder.", "online_backbone.", "online_network.encoder.", "model.", "net.")


def load_backbone(model: nn.Module, path: str | Path, trust_checkpoint: bool = False) -> None:
    """Load a self-supervised checkpoint's backbone into ``model`` strictly, all but its final layer.

    The file is read by :func:`paperlib.checkpoints.read_checkpoint` (``weights_only``: a file that
    needs full unpickling is refused unless ``trust_checkpoint``). Its keys are matched to the model's
    after removing the first of :data:`BACKBONE_PREFIXES` under which every backbone key is found;
    the final layer's weights in the file (a classifier, if any) are ignored, since the readout is
    fitted afterwards (:func:`fit_readout`).

    Raises
    ------
    FileNotFoundError, paperlib.checkpoints.CheckpointError
        A missing or unreadable file, or one that does not fit (the file and the differing keys named).
    """
    state, _ = checkpoints.read_checkpoint(path, trust_checkpoint)
    head = models.final_layer(model)
    head_name = next(n for n, m in model.named_modules() if m is head)
    own = model.state_dict()
    want = {k for k in own if not k.startswith(head_name + ".")}
    chosen = state
    for prefix in BACKBONE_PREFIXES:
        cand = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if want <= set(cand):
            chosen = cand
            break
    chosen = {k: v for k, v in chosen.items() if not k.startswith(head_name + ".")}
    chosen.update({k: v for k, v in own.items() if k.startswith(head_name + ".")})  # refitted afterwards
    checkpoints.load_state(model, chosen, path, getattr(model, "arch", type(model).__name__))
