"""Training losses on superclass logits: the nine objectives of Kornblith et al. (2021).

Sec. 6.3 of the paper evaluates the nine training objectives of Kornblith, Chen, Lee & Norouzi,
"Why Do Better Loss Functions Lead to Less Transferable Features?" (NeurIPS 2021). Each has a short
name (:data:`paperlib.names.LOSSES`):

===================  ===============================================================================
``softmax``          softmax cross-entropy (the paper's default)
``label_smoothing``  softmax cross-entropy against smoothed targets, scaled by ``1 / (1 - alpha)``
``dropout``          softmax cross-entropy with dropout on the penultimate layer (the head's input)
``extra_l2``         softmax cross-entropy plus ``lambda * ||W||^2 / 2`` on the final layer's weights
``logit_norm``       softmax cross-entropy on ``logits / (tau * ||logits||)``
``logit_penalty``    softmax cross-entropy plus ``beta * ||logits||^2 / 2`` per example
``cosine_softmax``   softmax cross-entropy on ``(h . w_k / ||w_k|| + b_k) / tau`` (a cosine head)
``squared_error``    the rescaled squared error of Hui & Belkin (scaled by the recipe, see below)
``sigmoid``          per-class sigmoid cross-entropy on ``logits - log(n_classes)``
===================  ===============================================================================

Their hyperparameters are those of that paper's ImageNet ResNet-50 models, read from its released
code (google-research ``loss_functions_transfer/load_model.py``, ``LOSS_HYPERPARAMETERS``, and
``losses.py`` / ``resnet_model.py`` next to it); :data:`HYPERPARAMETERS` lists each with its source.

Two recipes (:data:`RECIPES`, ``TrainConfig.recipe``) differ only in the squared error's scale:
``"nguyen"`` (the clustering paper's Figs. 4/5 models, ``representation_clustering/train.py``: the
squared error divided by 10, trained at learning rate 0.001) and ``"kornblith"`` (Fig. 6's models,
``loss_functions_transfer/load_model.py``: ``loss_scale`` 10, i.e. 100 times the former on the same
logits, at the common learning rate; weight decay 8e-5, set by :meth:`paperlib.config.Profile.train_config`).

Two entry points:

* :func:`get_loss` ``(name)``: the logit part, a callable ``(logits, target) -> scalar``.
* :func:`get_spec` ``(name)``: a :class:`LossSpec`, callable like the loss, that also knows how the
  loss changes the model (:meth:`LossSpec.prepare_model`: dropout before the head, a cosine head)
  and the parameter penalty it adds (:meth:`LossSpec.penalty`: the extra final-layer L2).
  :func:`paperlib.train.build_for` applies ``prepare_model`` wherever a model is built for a
  :class:`~paperlib.config.TrainConfig`, and :func:`paperlib.train.train_step` adds the penalty.

A model change keeps the head's parameters (``weight``, ``bias``), hence the ``state_dict`` keys,
and the probe points: the head module's class is swapped for a subclass of :class:`torch.nn.Linear`
(:class:`PenultimateDropoutLinear`, :class:`CosineLinear`) whose ``forward`` differs. The
penultimate probe point hooks the head's *input*, so it sees the features before the dropout and
before the normalisation of the cosine head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import config, models, names

__all__ = [
    "HYPERPARAMETERS",
    "LOSSES",
    "RECIPES",
    "SPECS",
    "CosineLinear",
    "Hyperparameter",
    "LossSpec",
    "PenultimateDropoutLinear",
    "final_layer_l2",
    "get_loss",
    "get_spec",
    "hyperparameters",
    "squared_error_scale",
    "label_smoothing",
    "logit_normalization",
    "logit_penalty",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "squared_error",
]

# ----------------------------------------------------------------------------- hyperparameters

#: Where the hyperparameters of Kornblith et al. (2021) come from.
_KORNBLITH = "Kornblith et al. 2021 code: google-research/google-research loss_functions_transfer/load_model.py (LOSS_HYPERPARAMETERS)"
_KORNBLITH_LOSSES = "Kornblith et al. 2021 code: google-research/google-research loss_functions_transfer/losses.py"
_NGUYEN = "Nguyen & Kornblith code: google-research/google-research representation_clustering/train.py (squared_loss; loss / 10.0)"
_KORNBLITH_MODEL = "Kornblith et al. 2021 code: google-research/google-research loss_functions_transfer/resnet_model.py"

#: The training recipes: ``"nguyen"``, the clustering paper's own (Figs. 4/5), and ``"kornblith"``,
#: that of Kornblith et al.'s released models (Fig. 6).
RECIPES: tuple[str, ...] = config.RECIPES

#: The squared error's loss scale per recipe (see :func:`squared_error`).
_SQUARED_ERROR_SCALE = {"nguyen": 0.1, "kornblith": 10.0}


def squared_error_scale(recipe: str) -> float:
    """The squared error's loss scale under ``recipe`` (0.1 for ``"nguyen"``, 10 for ``"kornblith"``)."""
    if recipe not in _SQUARED_ERROR_SCALE:
        raise ValueError(f"unknown recipe {recipe!r}; valid: {list(RECIPES)}")
    return _SQUARED_ERROR_SCALE[recipe]


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of one loss, with its source (for the book's table).

    Attributes
    ----------
    loss : str
        A name of :data:`paperlib.names.LOSSES` (or of :data:`paperlib.names.SELF_SUPERVISED`, in
        :data:`paperlib.byol.HYPERPARAMETERS`).
    name : str
        The keyword of the loss function (or model change) that takes it.
    value : float
    meaning : str
    source : str
        Where the value was read.
    """

    loss: str
    name: str
    value: float
    meaning: str
    source: str


#: Every hyperparameter of every loss (``softmax`` and ``sigmoid`` have none; the sigmoid's offset
#: ``log(n_classes)`` depends only on the number of classes).
HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(
        "label_smoothing",
        "alpha",
        0.1,
        "mass spread uniformly over all classes; loss scaled by 1/(1-alpha)",
        _KORNBLITH,
    ),
    Hyperparameter(
        "dropout",
        "drop_prob",
        0.3,
        "dropout probability on the penultimate layer (keep_prob 0.7)",
        _KORNBLITH + " ('dropout_keep_prob': 0.7)",
    ),
    Hyperparameter(
        "extra_l2",
        "lambda_",
        8e-4,
        "extra L2 penalty lambda * ||W||^2 / 2 on the final layer's weights (on top of the weight decay)",
        _KORNBLITH,
    ),
    Hyperparameter("logit_norm", "tau", 0.04, "temperature of the normalised logits", _KORNBLITH),
    Hyperparameter("logit_penalty", "beta", 6e-4, "penalty beta * ||logits||^2 / 2 per example", _KORNBLITH),
    Hyperparameter(
        "cosine_softmax",
        "tau",
        0.05,
        "temperature: logits (h . w_k / ||w_k|| + b_k) / tau; only the kernel is normalised",
        _KORNBLITH + "; " + _KORNBLITH_MODEL + " (tf.nn.l2_normalize(kernel, 0)) and losses.py (final_layer / tau)",
    ),
    Hyperparameter(
        "squared_error",
        "k",
        9.0,
        "weight of the true class's term (Hui & Belkin's kappa)",
        _NGUYEN + "; also kappa=9 in " + _KORNBLITH,
    ),
    Hyperparameter(
        "squared_error", "m", 60.0, "target value of the true class's logit", _NGUYEN + "; also m=60 in " + _KORNBLITH
    ),
    Hyperparameter(
        "squared_error",
        "scale",
        10.0,
        "loss scale of Fig. 6's models (recipe 'kornblith', common learning rate); "
        "Figs. 4/5's (recipe 'nguyen') is 0.1 at learning rate 0.001",
        _KORNBLITH + " ('loss_scale': 10); " + _NGUYEN,
    ),
)


def hyperparameters(loss: str, recipe: str = "nguyen") -> dict[str, float]:
    """The hyperparameters of the loss called ``loss`` as ``{keyword: value}`` (empty for none).

    Only the squared error's ``scale`` depends on the ``recipe`` (:data:`RECIPES`).

    Examples
    --------
    >>> hyperparameters("cosine_softmax")
    {'tau': 0.05}
    >>> hyperparameters("softmax")
    {}
    """
    names.check("loss", loss)
    out = {h.name: h.value for h in HYPERPARAMETERS if h.loss == loss}
    if "scale" in out and loss == "squared_error":
        out["scale"] = squared_error_scale(recipe)
    return out


def _hp(loss: str, name: str) -> float:
    return hyperparameters(loss)[name]


# ----------------------------------------------------------------------------- logit parts


def softmax_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``

    Returns
    -------
    torch.Tensor, scalar float32
    """
    return F.cross_entropy(logits.float(), target)


def label_smoothing(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.1) -> torch.Tensor:
    """Softmax cross-entropy against smoothed targets, divided by ``1 - alpha`` (Kornblith et al.'s code).

    The target distribution is ``(1 - alpha) * onehot + alpha / n_classes`` (TensorFlow's and
    PyTorch's ``label_smoothing``); the mean over the batch is scaled by ``1 / (1 - alpha)``, as
    ``loss_functions_transfer/losses.py`` does through its example weights.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    alpha : float
        Smoothing mass, in ``[0, 1)``.

    Returns
    -------
    torch.Tensor, scalar float32
    """
    return F.cross_entropy(logits.float(), target, label_smoothing=alpha) / (1.0 - alpha)


def logit_normalization(logits: torch.Tensor, target: torch.Tensor, tau: float = 0.04) -> torch.Tensor:
    """Softmax cross-entropy on L2-normalised logits divided by a temperature.

    ``F.cross_entropy(logits / (tau * ||logits||), target)``, the norm taken per example over
    the classes.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    tau : float
        Temperature.

    Returns
    -------
    torch.Tensor, scalar float32
    """
    return F.cross_entropy(F.normalize(logits.float(), dim=1) / tau, target)


def logit_penalty(logits: torch.Tensor, target: torch.Tensor, beta: float = 6e-4) -> torch.Tensor:
    """Softmax cross-entropy plus ``beta * ||logits||^2 / 2``, both averaged over the batch.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    beta : float
        Weight of the penalty.

    Returns
    -------
    torch.Tensor, scalar float32
    """
    z = logits.float()
    return F.cross_entropy(z, target) + beta * 0.5 * z.pow(2).sum(dim=1).mean()


def sigmoid_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy of every class against the one-hot target, summed over classes.

    The logits are offset by ``-log(n_classes)`` first, so that at initialisation every class has
    probability about ``1 / n_classes`` (Kornblith et al.'s ``losses.sigmoid``; the same as
    initialising the final layer's bias to ``-log(n_classes)``). Summed over the classes, averaged
    over the batch.

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``

    Returns
    -------
    torch.Tensor, scalar float32
    """
    n = logits.shape[1]
    onehot = F.one_hot(target, n).to(torch.float32)
    per = F.binary_cross_entropy_with_logits(logits.float() - math.log(n), onehot, reduction="none")
    return per.sum(dim=1).mean()


def squared_error(
    logits: torch.Tensor, target: torch.Tensor, k: float = 9.0, m: float = 60.0, scale: float = 0.1
) -> torch.Tensor:
    """Rescaled squared error (Hui & Belkin 2021), as in the authors' code.

    Per example ``scale * sum(((k - 1) * onehot + 1) * (m * onehot - logits) ** 2)``, i.e.
    ``scale * (k * (logit_y - m) ** 2 + sum_{j != y} logit_j ** 2)``, averaged over the batch. The
    clustering paper's code (Figs. 4/5; ``representation_clustering/train.py``: ``squared_loss``, then
    ``loss / 10.0``) has ``scale = 0.1``; Kornblith et al.'s (Fig. 6; ``loss_functions_transfer``,
    ``loss_scale``) the same ``kappa = 9, m = 60`` with ``scale = 10`` (:func:`squared_error_scale`).

    Parameters
    ----------
    logits : torch.Tensor, shape ``(batch, n_classes)``
    target : torch.Tensor of int64, shape ``(batch,)``
    k, m : float
        Weight of the true class's term and the target value for the true class.
    scale : float
        Loss scale (0.1: recipe ``"nguyen"``; 10: recipe ``"kornblith"``).

    Returns
    -------
    torch.Tensor, scalar float32
    """
    onehot = F.one_hot(target, logits.shape[1]).to(torch.float32)
    per = scale * (((k - 1) * onehot + 1) * (m * onehot - logits.float()) ** 2).sum(dim=1)
    return per.mean()


def _with(fn: Callable, loss: str, recipe: str = "nguyen") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn`` with the hyperparameters of ``loss`` (under ``recipe``) bound, keeping its name and docstring."""
    kw = hyperparameters(loss, recipe)

    def bound(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return fn(logits, target, **kw)

    bound.__name__ = bound.__qualname__ = fn.__name__
    bound.__doc__ = f"{fn.__name__} with {kw} (:data:`HYPERPARAMETERS`).\n\n" + (fn.__doc__ or "")
    return bound


#: The logit part of every name of :data:`paperlib.names.LOSSES`: ``(logits, target) -> scalar``,
#: under the default recipe ``"nguyen"`` (:func:`get_loss` and :func:`get_spec` take the recipe).
#: The model-side losses (``dropout``, ``extra_l2``, ``cosine_softmax``) use plain softmax
#: cross-entropy here; their model change and penalty are in :data:`SPECS`.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "softmax": softmax_cross_entropy,
    "label_smoothing": _with(label_smoothing, "label_smoothing"),
    "dropout": softmax_cross_entropy,
    "extra_l2": softmax_cross_entropy,
    "logit_norm": _with(logit_normalization, "logit_norm"),
    "logit_penalty": _with(logit_penalty, "logit_penalty"),
    "cosine_softmax": softmax_cross_entropy,
    "squared_error": _with(squared_error, "squared_error"),
    "sigmoid": sigmoid_cross_entropy,
}

# ----------------------------------------------------------------------------- model changes


class PenultimateDropoutLinear(nn.Linear):
    """A linear head that applies dropout to its input in training mode.

    Made by :meth:`LossSpec.prepare_model` for ``"dropout"`` by swapping the class of an existing
    :class:`torch.nn.Linear` (parameters and ``state_dict`` keys unchanged). Forward hooks and
    pre-hooks on the module (the penultimate probe point) see the input before the dropout.

    Attributes
    ----------
    drop_prob : float
        Probability of zeroing each feature (survivors are scaled by ``1 / (1 - drop_prob)``).
    """

    drop_prob: float = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_features)`` -> ``(batch, out_features)``."""
        return F.linear(F.dropout(x, self.drop_prob, training=self.training), self.weight, self.bias)


class CosineLinear(nn.Linear):
    """A cosine-softmax head: ``(h . w_k / ||w_k|| + b_k) / tau``.

    Only the kernel is normalised (each class's row ``w_k`` of ``weight`` to unit norm), not the
    features ``h``, as in Kornblith et al.'s released model code (``resnet_model.py``:
    ``tf.matmul(inputs, tf.nn.l2_normalize(kernel, 0)) + bias``; ``losses.cosine_softmax`` then
    divides by ``tau``), the graph their checkpoints restore into. Computed in float32 (autocast off). Made by :meth:`LossSpec.prepare_model` for
    ``"cosine_softmax"`` by swapping the class of an existing :class:`torch.nn.Linear`
    (parameters and ``state_dict`` keys unchanged).

    Attributes
    ----------
    tau : float
        Temperature.
    """

    tau: float = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_features)`` -> ``(batch, out_features)``."""
        with torch.autocast(x.device.type, enabled=False):
            cos = F.linear(x.float(), F.normalize(self.weight.float(), dim=-1))
            if self.bias is not None:
                cos = cos + self.bias.float()
            return cos / self.tau


def _add_dropout(model: nn.Module, drop_prob: float) -> None:
    head = models.final_layer(model)
    head.__class__ = PenultimateDropoutLinear
    head.drop_prob = float(drop_prob)


def _reinit_head(head: nn.Linear) -> None:
    # The released code of Kornblith et al. initialises the final layer N(0, 0.01) (bias 0). Our
    # models zero-initialise it (Nguyen & Kornblith's code), which a normalisation cannot take:
    # the norm of zero logits / weights has no useful gradient.
    nn.init.normal_(head.weight, std=0.01)
    if head.bias is not None:
        nn.init.zeros_(head.bias)


def _cosine_head(model: nn.Module, tau: float) -> None:
    head = models.final_layer(model)
    if not isinstance(head, CosineLinear):
        _reinit_head(head)
        head.__class__ = CosineLinear
    head.tau = float(tau)


def _nonzero_head(model: nn.Module) -> None:
    head = models.final_layer(model)
    if not head.weight.detach().any():
        _reinit_head(head)


def final_layer_l2(model: nn.Module, lambda_: float = 8e-4) -> torch.Tensor:
    """``lambda_ * ||W||^2 / 2`` of the final layer's weight matrix ``W`` (not its bias).

    As ``tf.nn.l2_loss`` in Kornblith et al.'s ``extra_final_layer_l2``; added on top of the
    weight decay, which also covers ``W``.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :func:`paperlib.models.build_model` (its head is :func:`paperlib.models.final_layer`).
    lambda_ : float

    Returns
    -------
    torch.Tensor, scalar float32, on the model's device
    """
    return lambda_ * 0.5 * models.final_layer(model).weight.float().pow(2).sum()


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class LossSpec:
    """A training objective: the logit loss, the model change and the parameter penalty.

    Callable as the loss itself, ``spec(logits, target) -> scalar``, so it can stand wherever a
    loss function is passed (:func:`paperlib.train.train_step` also adds :meth:`penalty`).

    Attributes
    ----------
    name : str
        A name of :data:`paperlib.names.LOSSES`.
    fn : callable
        ``(logits (batch, n_classes), target (batch,) int64) -> scalar`` (:data:`LOSSES`).
    model_change : callable or None
        ``model -> None``, changes the model in place (see :meth:`prepare_model`).
    penalty_fn : callable or None
        ``model -> scalar tensor`` (see :meth:`penalty`).
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    model_change: Callable[[nn.Module], None] | None = field(default=None, repr=False)
    penalty_fn: Callable[[nn.Module], torch.Tensor] | None = field(default=None, repr=False)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The logit part of the loss, ``(batch, n_classes), (batch,) -> scalar``."""
        return self.fn(logits, target)

    @property
    def hyperparameters(self) -> dict[str, float]:
        """``{keyword: value}`` (:func:`hyperparameters`)."""
        return hyperparameters(self.name)

    @property
    def changes_model(self) -> bool:
        """Whether :meth:`prepare_model` does anything."""
        return self.model_change is not None

    def prepare_model(self, model: nn.Module) -> None:
        """Change a freshly built model in place for this loss (a no-op for most losses).

        ``dropout``: the head applies dropout to its input in training mode
        (:class:`PenultimateDropoutLinear`). ``cosine_softmax``: the head becomes a
        :class:`CosineLinear`, re-initialised ``N(0, 0.01)`` with zero bias. ``logit_norm``: a
        zero-initialised head is re-initialised the same way. Parameter names, shapes, the
        ``state_dict`` keys and the probe points are unchanged, so cached weights load into a model
        built and prepared the same way. Call it before loading weights and before building the
        optimizer (it may replace parameter values, never parameter objects).
        """
        if self.model_change is not None:
            self.model_change(model)

    def penalty(self, model: nn.Module) -> torch.Tensor | float:
        """The loss's penalty on the model's parameters (``0.0`` for most losses).

        Returns
        -------
        torch.Tensor, scalar float32, or the float ``0.0``
        """
        return self.penalty_fn(model) if self.penalty_fn is not None else 0.0


#: The :class:`LossSpec` of every name of :data:`paperlib.names.LOSSES`.
SPECS: dict[str, LossSpec] = {name: LossSpec(name, fn) for name, fn in LOSSES.items()}
SPECS["dropout"] = LossSpec(
    "dropout", LOSSES["dropout"], model_change=lambda m: _add_dropout(m, _hp("dropout", "drop_prob"))
)
SPECS["extra_l2"] = LossSpec(
    "extra_l2", LOSSES["extra_l2"], penalty_fn=lambda m: final_layer_l2(m, _hp("extra_l2", "lambda_"))
)
SPECS["cosine_softmax"] = LossSpec(
    "cosine_softmax", LOSSES["cosine_softmax"], model_change=lambda m: _cosine_head(m, _hp("cosine_softmax", "tau"))
)
SPECS["logit_norm"] = LossSpec("logit_norm", LOSSES["logit_norm"], model_change=_nonzero_head)


#: The squared error of Fig. 6's recipe (Kornblith et al.'s ``loss_scale`` 10).
_KORNBLITH_SQUARED_ERROR = _with(squared_error, "squared_error", "kornblith")


def get_loss(name: str, recipe: str = "nguyen") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The logit part of the loss called ``name`` under ``recipe``, ``(logits, target) -> scalar``.

    Unknown names or recipes raise ``ValueError`` listing the valid ones. Only the squared error
    depends on the recipe (:func:`squared_error_scale`). For losses that change the model or
    penalise its parameters use :func:`get_spec`.
    """
    return get_spec(name, recipe).fn


def get_spec(name: str, recipe: str = "nguyen") -> LossSpec:
    """The :class:`LossSpec` of the loss called ``name`` under ``recipe`` (:data:`RECIPES`).

    Unknown names or recipes raise ``ValueError``.

    Examples
    --------
    >>> get_spec("dropout").changes_model, get_spec("extra_l2").changes_model
    (True, False)
    """
    spec = SPECS[names.check("loss", name)]
    if squared_error_scale(recipe) and recipe == "kornblith" and name == "squared_error":
        return LossSpec(name, _KORNBLITH_SQUARED_ERROR)
    return spec
