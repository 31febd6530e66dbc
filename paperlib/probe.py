"""Linear probes on subclass labels, layer by layer (paper Sec. 4, Fig. 1 and D.9).

For every probe point a linear classifier maps the layer's embedding to the *subclass* label
(the hidden fine label, not the superclass the network was trained on). It is trained on the
embeddings of the **train** split and scored (top-1 accuracy) on the **validation** split, the
images the clusters are scored on. The paper says no more than that (Alain & Bengio's probes);
what follows is our choice, stated in the book:

* **Model.** Multinomial logistic regression: one ``torch.nn.Linear(dim, n_classes)`` and softmax
  cross-entropy, weights and bias initialised to zero (the problem is convex, so nothing depends
  on a random start).
* **Standardisation.** Every feature is centred and scaled by its mean and standard deviation on
  the training embeddings, computed in one streaming pass before training (Chan et al.'s pairwise
  update, float64, block of features by block of features); a feature whose standard deviation is
  below :data:`STD_FLOOR` (a dead ReLU channel, a constant padding position) is only centred.
* **Optimiser.** Minibatch SGD with heavy-ball momentum :data:`MOMENTUM` (``torch.optim.SGD``)
  and an L2 penalty ``weight_decay / 2 * ||W||^2`` on the weights only (coupled ``weight_decay``;
  the bias is not penalised): per example, scikit-learn's ``LogisticRegression`` objective with
  ``C = 1 / (n_train * weight_decay)``. The step is ``lr / L`` with a cosine decay to zero over
  all steps, where ``L = lambda_max([X, 1]^T [X, 1] / b) / n_classes`` is the curvature of the
  minibatch loss at the zero start, measured once on the first standardised training batch
  (:func:`_top_eigenvalue`), so that one ``lr`` suits layers of a few features and of a million.
  Measured while choosing (10 epochs, batch 128): on a 4-class, 40-feature problem every ``lr``
  of 0.5, 1 and 2 reaches scikit-learn's held-out accuracy within half a point (the tests check
  the objective too); on a
  16-class problem with 50,000 features and 2,000 training examples (wider than it is long, as
  the early flattened layers are) held-out accuracy was 0.29 / 0.19 / 0.15 for ``lr`` 0.5 / 1 /
  2, hence the default 0.5, against 0.41 for scikit-learn's exact optimum: streamed SGD stops
  short of the penalised optimum on such layers. Adam (tried, ``lr`` 1e-3) reached 0.24 there.
* **Exact where it fits.** Hence :func:`layer_probe_accuracies` solves the same objective to
  convergence wherever it can: the standardised training features of every layer are collected
  (float32, on the CPU) during the standardisation pass, layer by layer in depth order while their
  total ``n_train x dim x 4`` bytes stay within :attr:`ProbeConfig.exact_max_bytes` (default 4 GiB),
  and solved by full-batch L-BFGS (float64 on the CPU, from zero, until the gradient's Euclidean
  norm is at most :data:`EXACT_TOL`: :func:`fit_exact_probe`) in the row space of the standardised
  features: the ``n_train x dim`` features are rotated onto ``n_train x r`` ones with orthogonal
  columns, ``r <= min(n_train, dim)`` their rank, through the eigendecomposition of the
  ``n_train x n_train`` Gram matrix when ``dim > n_train`` (the wide early layers; ``O(n_train^2 dim +
  n_train^3)`` once) or of the ``dim x dim`` covariance otherwise, and the solution is rotated back:
  the same optimum (the penalty is ``||W||^2`` and the loss sees the features through ``X W^T`` only),
  at ``O(n_train r n_classes)`` an iteration, with the variables scaled by the rotated problem's
  curvature at the start (a diagonal preconditioner). Measured on the smoke models' 2,560 training
  images (1 thread): 1 to 17 s a layer, 94 s for the ResNet's nine layers and 108 s for the
  layer-normalised VGG's fifteen, where the L-BFGS on the features themselves took 53 s and (the
  whole probe) 586 s and stopped short of the optimum (objectives up to 2.4% above on the ResNet).
  Only the layers beyond the budget are streamed with SGD; the table's
  ``solver`` column says which (``"lbfgs"`` or ``"sgd"``). The exact probe agrees with
  scikit-learn's ``LogisticRegression`` on the same standardised features (a test at every probe
  point of the smoke ResNet and VGG; on the full smoke ResNet's nine layers, measured, within one
  validation image, 0.0016, and objectives within 1.2e-4 relative of scikit-learn's at ``tol=1e-8``). When every layer fits, the network runs twice over the
  training images (standardisation and collection in one pass, as the statistics are taken from
  the collected features) instead of ``epochs + 1`` times.
* **Streaming.** Embeddings are never held for a whole split, nor is a (memory-mapped) split of
  images copied: a batch of images is read, goes through the network once, every requested
  layer's embedding of that batch updates its own probe, and the batch is dropped. Memory is ``O(batch x sum(dim))`` for the activations of one batch plus
  ``O(sum(dim) x n_classes)`` for the probes (weights, gradients and momentum buffers: three
  ``dim x n_classes`` float32 tensors per layer) and ``O(sum(dim))`` for the standardisation.
  Nothing is cached on disk but the final accuracies. The network therefore runs ``epochs + 1``
  times over the training images (one standardisation pass, ``epochs`` training passes, in a seeded
  new order each epoch) and once over the validation images. Embeddings are taken exactly as for
  clustering (:class:`~paperlib.config.EvalConfig`: pooling, unit norm, evaluation transforms, no
  augmentation).

:func:`fit_linear_probe` and :func:`probe_accuracy` work on any stream of ``(X, y)`` batches;
:func:`layer_probe_accuracies` runs them for all layers of a trained model at once and caches the
table under ``<cache>/probes/<key>/`` (:func:`probe_key`).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.std import tqdm

from . import cache, data, experiment, extract, provenance, train
from .config import EvalConfig, cache_root
from .devices import float64_device

__all__ = [
    "probe_grid",
    "STD_FLOOR",
    "LinearProbe",
    "ProbeConfig",
    "array_batches",
    "epoch_seed",
    "fit_exact_probe",
    "fit_linear_probe",
    "layer_probe_accuracies",
    "probe_accuracy",
    "probe_key",
]

STD_FLOOR = 1e-6
"""Features whose training standard deviation is below this are centred but not scaled."""

EXACT_TOL = 1e-5
"""The exact probe stops when the Euclidean norm of the objective's gradient in ``(W, bias)`` is at most this."""

EXACT_MAX_ITER = 2000
"""At most this many L-BFGS iterations for an exact probe."""

MOMENTUM = 0.9
"""Momentum of the probe's SGD (heavy ball, not Nesterov)."""

_STATS_BLOCK = 2**24  # float64 elements of one batch block in the standardisation pass (128 MiB)

BatchesFn = Callable[..., Iterable[tuple[torch.Tensor, torch.Tensor]]]


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class ProbeConfig:
    """Hyperparameters of a linear probe; with the model's configuration it keys the cache.

    Attributes
    ----------
    epochs : int
        Passes over the training embeddings.
    lr : float
        Initial step in units of ``1 / L``, the curvature of the loss at the start (cosine decay
        to 0 over all steps; see the module docstring).
    weight_decay : float
        L2 penalty ``weight_decay / 2 * ||W||^2`` added to the mean cross-entropy (weights only).
    batch_size : int
        Images per minibatch (also the network's forward batch in :func:`layer_probe_accuracies`).
    seed : int
        Seeds the order of the training examples in every epoch.
    exact_max_bytes : int
        Memory budget of the exact probes: the layers (in depth order) whose float32 training
        features ``n_train x dim x 4`` bytes fit together within it are solved exactly by
        full-batch L-BFGS (:func:`fit_exact_probe`), the rest streamed with SGD. 0 streams every
        layer. Default 4 GiB (the solver, one layer at a time, needs the layer's features once more
        at float32, standardised, plus ``O(n_train min(n_train, dim))`` float64 for the rotated
        features and the eigenvectors).
    """

    epochs: int = 10
    lr: float = 0.5
    weight_decay: float = 1e-4
    batch_size: int = 256
    seed: int = 0
    exact_max_bytes: int = 4 * 2**30

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"ProbeConfig.{name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"ProbeConfig.lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(f"ProbeConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"ProbeConfig.seed must be an integer >= 0, got {self.seed!r}")
        v = self.exact_max_bytes
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"ProbeConfig.exact_max_bytes must be an integer >= 0, got {v!r}")


# --------------------------------------------------------------------------- the probe
@dataclass
class LinearProbe:
    """A trained linear probe: standardisation, then ``logits = X_std @ weight.T + bias``.

    Attributes
    ----------
    mean : torch.Tensor of float32, shape ``(dim,)``
        Per-feature mean of the training embeddings.
    std : torch.Tensor of float32, shape ``(dim,)``
        Per-feature standard deviation of the training embeddings (1 where below
        :data:`STD_FLOOR`).
    weight : torch.Tensor of float32, shape ``(n_classes, dim)``
    bias : torch.Tensor of float32, shape ``(n_classes,)``
    n_train : int
        Training examples seen per epoch.
    history : list of float
        Mean training loss (cross-entropy plus penalty) of every epoch.
    """

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    n_train: int = 0
    history: list = field(default_factory=list)

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[0])

    @torch.no_grad()
    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Class scores of a batch.

        Parameters
        ----------
        X : torch.Tensor, shape ``(batch, dim)``

        Returns
        -------
        torch.Tensor of float32, shape ``(batch, n_classes)``, on the probe's device.
        """
        X = torch.as_tensor(X).to(self.weight.device, torch.float32)
        return ((X - self.mean) / self.std) @ self.weight.T + self.bias

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Predicted class of every row of ``X`` (shape ``(batch, dim)``): int64, shape ``(batch,)``."""
        return self.logits(X).argmax(1)


class _Trainer:
    """One probe being fitted: streaming statistics, then SGD steps. Shared by every entry point."""

    def __init__(self, dim: int, n_classes: int, device: torch.device):
        self.dim, self.n_classes, self.device = int(dim), int(n_classes), device
        self.stats_device = float64_device(device)  # MPS has no float64: its statistics are kept on the CPU
        self.n = 0
        self.mean64 = torch.zeros(self.dim, dtype=torch.float64, device=self.stats_device)
        self.m2 = torch.zeros(self.dim, dtype=torch.float64, device=self.stats_device)
        self.linear: nn.Linear | None = None
        self.opt: torch.optim.Optimizer | None = None
        self.loss_sum, self.loss_n, self.history = 0.0, 0, []

    def _check(self, X: torch.Tensor, y: torch.Tensor | None = None) -> None:
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"batches must be (batch, {self.dim}) embeddings, got shape {tuple(X.shape)}")
        if y is not None:
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise ValueError(f"labels must be of shape ({X.shape[0]},), got {tuple(y.shape)}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
                raise ValueError(f"labels must lie in 0..{self.n_classes - 1}, got {int(y.min())}..{int(y.max())}")

    @torch.no_grad()
    def observe(self, X: torch.Tensor) -> None:
        """Fold a batch into the running mean and sum of squared deviations (float64, blockwise)."""
        self._check(X)
        nb = X.shape[0]
        if nb == 0:
            return
        tot = self.n + nb
        step = max(1, _STATS_BLOCK // nb)
        for a in range(0, self.dim, step):
            xb = X[:, a : a + step].to(self.stats_device).to(torch.float64)
            bm = xb.mean(0)
            bm2 = (xb - bm).square_().sum(0)
            delta = bm - self.mean64[a : a + step]
            self.mean64[a : a + step] += delta * (nb / tot)
            self.m2[a : a + step] += bm2 + delta.square_() * (self.n * nb / tot)
        self.n = tot

    def start(self, lr: float, weight_decay: float, total_steps: int) -> None:
        if self.n == 0:
            raise ValueError("the training batches are empty")
        std = (self.m2 / self.n).sqrt()
        scaled = std >= STD_FLOOR
        std[~scaled] = 1.0
        self.mean, self.std = self.mean64.float().to(self.device), std.float().to(self.device)
        del self.mean64, self.m2
        self.linear = nn.Linear(self.dim, self.n_classes).to(self.device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.opt = torch.optim.SGD(
            [
                {"params": [self.linear.weight], "weight_decay": weight_decay},
                {"params": [self.linear.bias], "weight_decay": 0.0},
            ],
            lr=lr,
            momentum=MOMENTUM,
        )
        self.curvature = None
        self.lr, self.wd, self.total, self.t = lr, weight_decay, max(1, total_steps), 0

    def step(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self._check(X, y)
        if X.shape[0] == 0:
            return
        X = (X.detach().to(self.device, torch.float32) - self.mean) / self.std
        if self.curvature is None:
            self.curvature = _top_eigenvalue(X) / self.n_classes
        lr = self.lr / self.curvature * 0.5 * (1.0 + math.cos(math.pi * min(1.0, self.t / self.total)))
        for g in self.opt.param_groups:
            g["lr"] = lr
        y = y.to(self.device, torch.long)
        with torch.enable_grad():
            loss = nn.functional.cross_entropy(self.linear(X), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.t += 1
        self.loss_sum = self.loss_sum + loss.detach() * X.shape[0]  # on the device: no sync per step
        self.loss_n += X.shape[0]

    def end_epoch(self) -> None:
        """Record the epoch's mean cross-entropy plus the penalty at the epoch's end."""
        with torch.no_grad():
            pen = 0.5 * self.wd * float(self.linear.weight.square().sum()) if self.wd else 0.0
        self.history.append(float(self.loss_sum) / max(1, self.loss_n) + pen)
        self.loss_sum, self.loss_n = 0.0, 0

    def result(self) -> LinearProbe:
        return LinearProbe(
            self.mean,
            self.std,
            self.linear.weight.detach().clone(),
            self.linear.bias.detach().clone(),
            self.n,
            list(self.history),
        )


@torch.no_grad()
def _top_eigenvalue(X: torch.Tensor) -> float:
    """Largest eigenvalue of ``[X, 1]^T [X, 1] / b`` for a batch ``X`` of shape ``(b, dim)``.

    At the zero start every class has probability ``1 / k``, and the Hessian of the mean softmax
    cross-entropy in ``(W, bias)`` is ``(I / k - 1 1^T / k^2)`` (x) ``[X, 1]^T [X, 1] / b``, whose
    largest eigenvalue is this value over ``k``: the probe's curvature scale ``L``. It is computed
    from the ``b x b`` Gram matrix, which has the same non-zero eigenvalues.
    """
    gram = X @ X.T
    gram = gram.to(float64_device(gram.device)).to(torch.float64).add_(1.0).div_(X.shape[0])
    return float(torch.linalg.eigvalsh(gram)[-1].clamp(min=1e-12))


def _takes_arg(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the training order of ``epoch`` for probe seed ``seed`` (a 32-bit int)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def _as_batch(X, y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(X), torch.as_tensor(y)


def fit_linear_probe(
    batches_fn: BatchesFn,
    dim: int,
    n_classes: int,
    epochs: int = 10,
    lr: float = 0.5,
    weight_decay: float = 1e-4,
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
) -> LinearProbe:
    """Fit a standardised multinomial logistic-regression probe on a stream of batches.

    One streaming pass over the batches computes every feature's mean and standard deviation;
    then ``epochs`` passes of minibatch SGD with momentum (step ``lr / L``, cosine decay, L2
    penalty on the weights; see the module docstring) train ``nn.Linear(dim, n_classes)`` on the
    standardised features from zero. Memory is ``O(batch x dim + dim x n_classes)``.

    Parameters
    ----------
    batches_fn : callable
        Returns a fresh iterable of ``(X, y)`` batches: ``X`` float tensor of shape
        ``(batch, dim)``, ``y`` int64 tensor of shape ``(batch,)`` with values in
        ``0 .. n_classes - 1``; the same examples every call. It is called once as
        ``batches_fn()`` for the standardisation pass and, per training epoch, as
        ``batches_fn(s)`` with ``s = epoch_seed(seed, epoch)`` if it takes a positional argument
        (it should then shuffle its examples with that seed: see :func:`array_batches`), else as
        ``batches_fn()`` (the caller's own order, the same every epoch).
    dim : int
        Features per example.
    n_classes : int
    epochs : int
    lr : float
        Initial step in units of ``1 / L`` (``L``: the loss's curvature at the start, measured on
        the first training batch).
    weight_decay : float
        L2 penalty ``weight_decay / 2 * ||W||^2`` on the weights (not the bias), added to the mean
        cross-entropy: the objective of scikit-learn's ``LogisticRegression(C=1 / (n *
        weight_decay))``.
    seed : int
        Seeds the per-epoch order (through ``batches_fn``). With the zero start and a fixed order
        the result is deterministic (bit-identical on CPU).
    device : str or torch.device
        Where the probe lives and the batches are moved to.

    Returns
    -------
    LinearProbe

    Raises
    ------
    ValueError
        For empty batches, batches of the wrong width, or labels outside ``0 .. n_classes - 1``.
    """
    ProbeConfig(epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed)  # validates
    device = torch.device(device)
    tr = _Trainer(dim, n_classes, device)
    n_batches = 0
    for X, y in batches_fn():
        X, y = _as_batch(X, y)
        tr._check(X, y)
        tr.observe(X)
        n_batches += 1
    tr.start(lr, weight_decay, epochs * n_batches)
    shuffles = _takes_arg(batches_fn)
    for epoch in range(epochs):
        for X, y in batches_fn(epoch_seed(seed, epoch)) if shuffles else batches_fn():
            tr.step(*_as_batch(X, y))
        tr.end_epoch()
    return tr.result()


def _standardised(X: torch.Tensor, mean64: torch.Tensor, std64: torch.Tensor) -> torch.Tensor:
    """``(X - mean) / std`` as a new float32 tensor, computed in float64 a block of rows at a time."""
    n, d = X.shape
    out = torch.empty(n, d, dtype=torch.float32)
    step = max(1, _STATS_BLOCK // max(1, d))
    for a in range(0, n, step):
        out[a : a + step] = ((X[a : a + step].to(torch.float64) - mean64) / std64).float()
    return out


def _gram(A: torch.Tensor, rows: bool) -> torch.Tensor:
    """``A @ A.T`` (``rows``) or ``A.T @ A`` in float64 from float32 ``A``, a float64 block of columns
    (``rows``) or of rows at a time (at most :data:`_STATS_BLOCK` elements per block)."""
    n, d = A.shape
    if rows:
        K = torch.zeros(n, n, dtype=torch.float64)
        step = max(1, _STATS_BLOCK // max(1, n))
        for a in range(0, d, step):
            B = A[:, a : a + step].to(torch.float64)
            K.addmm_(B, B.T)
    else:
        K = torch.zeros(d, d, dtype=torch.float64)
        step = max(1, _STATS_BLOCK // max(1, d))
        for a in range(0, n, step):
            B = A[a : a + step].to(torch.float64)
            K.addmm_(B.T, B)
    return K


def _reduce(Xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Reduced features of the standardised ``Xs`` (float32, ``(n, dim)``): ``F = Xs @ V`` for an
    orthonormal ``V`` of shape ``(dim, r)`` spanning the row space of ``Xs``, with ``F.T @ F`` diagonal.

    ``dim > n``: ``V = Xs.T @ U_r @ S_r^(-1/2)`` from the eigendecomposition ``Xs @ Xs.T = U S U^T``
    (``F = K U_r S_r^(-1/2)``, ``V`` is never formed); else ``V`` holds the leading eigenvectors of
    ``Xs.T @ Xs``. Eigenvalues at or below ``max(n, dim) * eps * max(S)`` (float64 ``eps``) are dropped:
    ``r`` is the numerical rank.

    Returns
    -------
    F : torch.Tensor of float64, shape ``(n, r)``
    s : torch.Tensor of float64, shape ``(r,)``
        The eigenvalues, ``diag(F.T @ F)``.
    to_weight : callable
        Maps reduced weights ``Z`` (``(C, r)``, float64) to ``W = Z @ V.T`` (``(C, dim)``, float64).
    """
    n, d = Xs.shape
    wide = d > n
    K = _gram(Xs, rows=wide)
    S, U = torch.linalg.eigh(K)
    keep = S > max(n, d) * torch.finfo(torch.float64).eps * float(S[-1].clamp(min=0))
    if not keep.any():  # every feature constant: nothing to fit but the bias
        return torch.zeros(n, 0, dtype=torch.float64), S[:0], lambda Z: torch.zeros(Z.shape[0], d, dtype=torch.float64)
    S, U = S[keep], U[:, keep]
    if wide:
        F = K @ (U / S.sqrt())
        del K

        def to_weight(Z: torch.Tensor) -> torch.Tensor:
            A = (Z / S.sqrt()) @ U.T  # (C, n): W = A @ Xs
            W = torch.empty(Z.shape[0], d, dtype=torch.float64)
            step = max(1, _STATS_BLOCK // n)
            for a in range(0, d, step):
                W[:, a : a + step] = A @ Xs[:, a : a + step].to(torch.float64)
            return W

        return F, S, to_weight
    del K
    F = torch.empty(n, U.shape[1], dtype=torch.float64)
    step = max(1, _STATS_BLOCK // max(1, d))
    for a in range(0, n, step):
        F[a : a + step] = Xs[a : a + step].to(torch.float64) @ U
    return F, S, lambda Z: Z @ U.T


def _solve(
    F: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    weight_decay: float,
    scale: torch.Tensor,
    bias_scale: float,
    tol: float = EXACT_TOL,
) -> tuple[torch.Tensor, torch.Tensor, float, float, int]:
    """Minimise ``mean CE(F @ Z.T + b, y) + weight_decay / 2 * ||Z||^2`` (float64 ``F`` of shape
    ``(n, r)``) by L-BFGS (``scipy.optimize.minimize``, method ``L-BFGS-B``, no bounds) from zero.

    The variables are rescaled, ``Z = V * scale`` and ``b = v * bias_scale`` (a diagonal
    preconditioner; the optimum is the same). It stops when the gradient of the objective in
    ``(Z, b)`` has Euclidean norm at most ``tol``, or after :data:`EXACT_MAX_ITER`
    iterations. Returns ``Z`` (``(C, r)``), ``b`` (``(C,)``), the objective, its gradient's norm and
    the iterations.
    """
    from scipy.optimize import minimize

    n, r = F.shape
    k = n_classes
    Fs = F * scale  # logits = Fs @ V.T + v * bias_scale
    pen = weight_decay * scale.square()  # d(penalty)/dV = pen * V
    onehot = nn.functional.one_hot(y, k).to(torch.float64)
    last: dict = {}

    def fun(x: np.ndarray):
        t = torch.from_numpy(x)
        V, v = t[: k * r].view(k, r), t[k * r :]
        logits = torch.addmm(v * bias_scale, Fs, V.T)
        logp = torch.log_softmax(logits, 1)
        f = -float((logp * onehot).sum()) / n + 0.5 * float((pen * V.square()).sum())
        G = (logp.exp_() - onehot).div_(n)  # d(mean CE)/d(logits)
        gV = G.T @ Fs + pen * V
        gv = G.sum(0) * bias_scale
        g = torch.cat([gV.reshape(-1), gv]).numpy()
        # the gradient in (Z, b): dZ = scale dV, db = bias_scale dv
        last.update(x=x.copy(), f=f, gnorm=math.hypot(float((gV / scale).norm()), float(gv.norm()) / bias_scale))
        return f, g

    def stop(intermediate_result):
        if np.array_equal(intermediate_result.x, last["x"]) and last["gnorm"] <= tol:
            raise StopIteration

    res = minimize(
        fun,
        np.zeros(k * r + k),
        jac=True,
        method="L-BFGS-B",
        callback=stop,
        options={"maxiter": EXACT_MAX_ITER, "maxfun": 4 * EXACT_MAX_ITER, "maxcor": 20, "ftol": 0.0, "gtol": 0.0},
    )
    f, _ = fun(res.x)
    t = torch.from_numpy(res.x)
    Z = t[: k * r].view(k, r) * scale
    b = t[k * r :] * bias_scale
    return Z, b, f, last["gnorm"], int(res.nit)


def fit_exact_probe(
    X: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    n_classes: int,
    weight_decay: float = 1e-4,
    *,
    mean: torch.Tensor | None = None,
    std: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
    method: str = "reduced",
    tol: float = EXACT_TOL,
) -> LinearProbe:
    """Solve the standardised multinomial logistic regression to convergence (full-batch L-BFGS).

    Minimises ``mean cross-entropy + weight_decay / 2 * ||W||^2`` (bias unpenalised: scikit-learn's
    ``LogisticRegression(C=1 / (n * weight_decay))``) over the standardised features from a zero
    start, in float64 on the CPU, by L-BFGS (``scipy.optimize.minimize``, ``L-BFGS-B`` without
    bounds) until the Euclidean norm of the objective's gradient in ``(W, bias)`` is at most
    ``tol`` (default :data:`EXACT_TOL`) or after :data:`EXACT_MAX_ITER` iterations (a warning says so).

    With ``method="reduced"`` (the default) the problem is first rotated onto the row space of the
    standardised features ``Xs``: ``Xs = F V^T`` with ``V`` (``dim x r``) orthonormal and ``F``
    (``n x r``, ``r <= min(n, dim)`` the numerical rank) of orthogonal columns. As the loss sees
    ``Xs W^T`` only and the penalty is ``||W||^2``, the optimum is ``W = Z V^T`` with ``Z`` the optimum
    of the same problem on ``F`` (a component of ``W`` outside the row space changes only the penalty,
    so it is zero there) and the same bias; the gradient norm is the same in both. For ``dim > n``
    ``F = K U_r S_r^(-1/2)`` from the eigendecomposition of the Gram matrix ``K = Xs Xs^T = U S U^T``
    (float64: ``O(n^2 dim + n^3)``) and ``W = Z S_r^(-1/2) U_r^T Xs`` (``O(n_classes n dim)``); for
    ``dim <= n`` ``V`` holds the eigenvectors of ``Xs^T Xs`` (``O(n dim^2 + dim^3)``) and ``F = Xs V``.
    The L-BFGS then works on ``n x r`` features, ``O(n r n_classes)`` per iteration, and as ``F^T F = S``
    is diagonal its variables are scaled by ``(s_j / (n n_classes) + weight_decay)^(-1/2)`` (the
    Hessian's diagonal at the start; a preconditioner, the optimum is unchanged). ``method="primal"``
    solves for ``W`` directly on ``Xs`` with no rotation or scaling (the reference the tests check the
    rotation against; slow on wide layers). Memory: the standardised features (float32, ``n x dim``)
    plus ``F`` and the eigenvectors at float64, ``O(n min(n, dim) + min(n, dim)^2)``.

    Parameters
    ----------
    X : tensor or array, shape ``(n, dim)``
        Training embeddings (not standardised).
    y : tensor or array of int, shape ``(n,)``, values in ``0 .. n_classes - 1``
    n_classes : int
    weight_decay : float
    mean, std : torch.Tensor, shape ``(dim,)``, optional
        The standardisation; default the features' own mean and standard deviation (population,
        1 where below :data:`STD_FLOOR`), as the streamed probe computes them.
    device : str or torch.device
        Where the returned probe lives.
    method : {"reduced", "primal"}
        Solve on the rotated features (default) or on the standardised features themselves.
    tol : float
        Gradient norm at which the L-BFGS stops.

    Returns
    -------
    LinearProbe
        ``history`` holds the final objective.
    """
    if method not in ("reduced", "primal"):
        raise ValueError(f"method must be 'reduced' or 'primal', got {method!r}")
    X = torch.as_tensor(X).detach().cpu()
    y = torch.as_tensor(y).detach().cpu().to(torch.long)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"need X of shape (n, dim), n >= 1, and y of shape (n,), got {tuple(X.shape)}, {tuple(y.shape)}"
        )
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {int(y.min())}..{int(y.max())}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    n, dim = X.shape
    if mean is None:
        stats = _Trainer(dim, n_classes, torch.device("cpu"))
        stats.observe(X)
        mean, std = stats.mean64, (stats.m2 / n).sqrt()
        std[std < STD_FLOOR] = 1.0
    mean64, std64 = mean.detach().cpu().to(torch.float64), std.detach().cpu().to(torch.float64)
    Xs = _standardised(X, mean64, std64)
    if method == "primal":
        F, to_weight = Xs.to(torch.float64), lambda Z: Z
        scale = torch.ones(dim, dtype=torch.float64)
    else:
        F, s, to_weight = _reduce(Xs)
        scale = (s / (n * n_classes) + weight_decay).rsqrt()
    Z, b, final, gnorm, nit = _solve(F, y, n_classes, weight_decay, scale, math.sqrt(n_classes), tol)
    del F
    if not gnorm <= tol:
        warnings.warn(
            f"fit_exact_probe: gradient norm {gnorm:.2e} > {tol:g} after {nit} L-BFGS iterations",
            RuntimeWarning,
            stacklevel=2,
        )
    W = to_weight(Z)
    dev = torch.device(device)
    return LinearProbe(
        mean64.float().to(dev),
        std64.float().to(dev),
        W.float().to(dev),
        b.float().to(dev),
        int(n),
        [final],
    )


def probe_accuracy(probe: LinearProbe, batches_fn: BatchesFn) -> float:
    """Top-1 accuracy of a probe over a stream of batches.

    Parameters
    ----------
    probe : LinearProbe
    batches_fn : callable
        ``batches_fn()`` yields ``(X, y)``: ``X`` of shape ``(batch, dim)``, ``y`` of shape
        ``(batch,)``.

    Returns
    -------
    float
        Fraction of examples whose highest-scoring class is their label.

    Raises
    ------
    ValueError
        If the batches hold no example.
    """
    correct = total = 0
    for X, y in batches_fn():
        X, y = _as_batch(X, y)
        if X.ndim != 2 or X.shape[1] != probe.dim:
            raise ValueError(f"batches must be (batch, {probe.dim}) embeddings, got shape {tuple(X.shape)}")
        correct += int((probe.predict(X).cpu() == y.cpu()).sum())
        total += int(y.shape[0])
    if total == 0:
        raise ValueError("the batches hold no example")
    return correct / total


def array_batches(X, y, batch_size: int = 256) -> BatchesFn:
    """A ``batches_fn`` over in-memory arrays, for :func:`fit_linear_probe` and :func:`probe_accuracy`.

    Parameters
    ----------
    X : array_like, shape ``(n, dim)``
    y : array_like of int, shape ``(n,)``
    batch_size : int

    Returns
    -------
    callable
        ``fn(seed=None)``: batches of ``(float32 tensor (b, dim), int64 tensor (b,))`` in the
        arrays' order, or in the order of ``numpy.random.default_rng(seed).permutation(n)`` when a
        seed is given.
    """
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"need X of shape (n, dim) and y of shape (n,), got {tuple(X.shape)} and {tuple(y.shape)}")

    def fn(seed: int | None = None):
        n = X.shape[0]
        order = torch.arange(n) if seed is None else torch.from_numpy(np.random.default_rng(seed).permutation(n))
        for a in range(0, n, batch_size):
            idx = order[a : a + batch_size]
            yield X[idx], y[idx]

    return fn


# --------------------------------------------------------------------------- all layers of a model
def probe_key(
    trained_config,
    ecfg: EvalConfig,
    pcfg: ProbeConfig,
    layers: Sequence[str],
    data_root: str | Path | None = None,
    epoch: int | None = None,
) -> dict:
    """What identifies a table of probe accuracies: model, embeddings, probe, layers, code and data.

    Built on :func:`paperlib.experiment.scores_key` (the key of the cluster scores of the same
    model and embeddings), so the two stay in step.

    Returns
    -------
    dict
        ``train`` (the model's :class:`~paperlib.config.TrainConfig`), ``eval`` (the
        :class:`~paperlib.config.EvalConfig` without ``factors``, which do not change a probe:
        pooling, normalisation, validation subset, image and decode sizes, bf16), ``data``
        (:func:`paperlib.data.data_identity` of both splits) and ``epoch`` (a training
        snapshot only) as in ``scores_key``; ``code``: ``scores`` (its code version, which covers
        training and extraction) and ``probe`` (:func:`paperlib.provenance.module_fingerprint` of
        this module); ``probe`` (:class:`ProbeConfig`) and ``layers``.
    """
    key = experiment.scores_key(trained_config, ecfg, data_root, epoch)
    key["eval"] = {k: v for k, v in key["eval"].items() if k != "factors"}
    key["code"] = {"scores": key["code"], "probe": provenance.module_fingerprint("probe")}
    key["probe"] = cache.canonical(pcfg)
    key["layers"] = list(layers)
    return key


def _batch_order(n: int, batch_size: int, seed: int | None) -> list[np.ndarray]:
    """Batches of positions ``0..n-1``: in order, or of a seeded permutation; each batch sorted
    (the order within a batch does not change a step, and sorted reads suit a memory map)."""
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    return [np.sort(order[a : a + batch_size]) for a in range(0, n, batch_size)]


def _image_batches(
    split: data.Split,
    targets: np.ndarray,
    batches: list[np.ndarray],
    batch_size: int,
    ecfg: EvalConfig,
    num_workers: int,
):
    """Evaluation-transformed ``(uint8 images, labels)`` batches of ``split``, batch ``i`` holding the
    images at ``batches[i]`` (all of ``batch_size`` images but possibly the last).

    In-memory and decoded splits give one batch of images at a time (a memory-mapped split is never
    copied whole); image files are read by one loader per group of 64 batches.
    """
    group = 1 if split.images is not None else 64
    for g in range(0, len(batches), group):
        idx = np.concatenate(batches[g : g + group])
        # the subset is the group's batches end to end, and evaluation batches keep its order
        yield from data.iterate_batches(
            split.subset(idx),
            targets[idx],
            batch_size=batch_size,
            train=False,
            image_size=ecfg.image_size,
            num_workers=num_workers,
        )


def _layer_batches(
    model,
    split: data.Split,
    targets: np.ndarray,
    index: np.ndarray,
    points,
    ecfg: EvalConfig,
    batch_size: int,
    device: torch.device,
    seed: int | None = None,
    num_workers: int = 0,
):
    """Yield ``({layer: embeddings (b, dim)}, labels (b,))`` for the images ``index`` of a split (an
    increasing array of positions; ``targets`` is aligned with the whole split): one forward pass
    per batch, in the split's order or (``seed``) a seeded random order."""
    batches = [index[b] for b in _batch_order(len(index), batch_size, seed)]
    images = _image_batches(split, targets, batches, batch_size, ecfg, num_workers)
    for emb, _, y in extract.iter_embeddings(
        model,
        images,
        points,
        stats=split.dataset,
        pool=ecfg.pool,
        l2_normalize=ecfg.l2_normalize,
        device=device,
        amp=ecfg.extract_bf16,
    ):
        yield emb, y


def _compute(
    trained: train.Trained,
    points,
    ecfg: EvalConfig,
    pcfg: ProbeConfig,
    data_root,
    cache_dir,
    device: torch.device,
    progress: bool,
    num_workers: int,
) -> dict:
    cfg, h, model = trained.config, trained.hierarchy, trained.model
    ds = data.resolve(cfg.dataset, data_root)
    tr_split = ds.split("train", per_subclass=cfg.train_per_subclass)
    if cfg.decode_size:  # the same decoded copy the model was trained from
        tr_split = data.decode_once(tr_split, cfg.decode_size, cache_dir, num_workers=num_workers, progress=progress)
    va_split = experiment.validation_split(
        ds, ecfg.val_per_subclass, ecfg.decode_size, data_root, cache_dir, progress, num_workers
    )
    # the images of the hierarchy's subclasses, as positions: a (memory-mapped) split is never copied
    tr_idx = np.flatnonzero(h.superclass_labels(tr_split.subclass) >= 0)
    va_idx = np.flatnonzero(h.superclass_labels(va_split.subclass) >= 0)
    classes = np.unique(tr_split.subclass[tr_idx])
    missing = np.setdiff1d(np.unique(va_split.subclass[va_idx]), classes)
    if missing.size:
        raise ValueError(f"validation subclasses {missing[:10].tolist()} have no training images")
    # subclass -> 0..n_classes-1 (images outside the hierarchy get a label they never use)
    y_tr = np.searchsorted(classes, tr_split.subclass).clip(0, len(classes) - 1).astype(np.int64)
    y_va = np.searchsorted(classes, va_split.subclass).clip(0, len(classes) - 1).astype(np.int64)
    bs, n_tr, n_va = pcfg.batch_size, len(tr_idx), len(va_idx)
    if n_tr == 0 or n_va == 0:
        raise ValueError(
            f"no {'training' if n_tr == 0 else 'validation'} images for the subclasses of hierarchy {h.name!r}"
        )
    common = dict(points=points, ecfg=ecfg, batch_size=bs, device=device, num_workers=num_workers)
    bar = tqdm(
        total=(pcfg.epochs + 1) * math.ceil(n_tr / bs) + math.ceil(n_va / bs),
        disable=not progress,
        file=sys.stderr,
        mininterval=2.0,
        unit="batch",
        desc=f"probe {cfg.arch} {cfg.hierarchy} seed {cfg.seed}",
    )
    trainers: dict[str, _Trainer] = {}
    held: dict[str, list[torch.Tensor]] = {}  # the training features of the layers solved exactly
    labels: list[torch.Tensor] = []
    budget = pcfg.exact_max_bytes
    for emb, y in _layer_batches(model, tr_split, y_tr, tr_idx, **common):  # standardisation pass
        for name, e in emb.items():
            if name not in trainers:
                trainers[name] = _Trainer(e.shape[1], len(classes), device)
                need = n_tr * e.shape[1] * 4
                if need <= budget:  # depth order: the first layers that fit are solved exactly
                    held[name], budget = [], budget - need
            trainers[name].observe(e)
            if name in held:
                held[name].append(e.detach().to("cpu", torch.float32))
        labels.append(torch.as_tensor(y).cpu())
        bar.update(1)
    sgd = {name: t for name, t in trainers.items() if name not in held}
    probes: dict[str, LinearProbe] = {}
    y_all = torch.cat(labels)
    for name in list(held):
        t = trainers[name]
        std = (t.m2 / t.n).sqrt()
        std[std < STD_FLOOR] = 1.0
        probes[name] = fit_exact_probe(
            torch.cat(held.pop(name)), y_all, len(classes), pcfg.weight_decay, mean=t.mean64, std=std, device=device
        )
    del labels, y_all
    for t in sgd.values():
        t.start(pcfg.lr, pcfg.weight_decay, pcfg.epochs * math.ceil(n_tr / bs))
    for epoch in range(pcfg.epochs if sgd else 0):
        for emb, y in _layer_batches(model, tr_split, y_tr, tr_idx, seed=epoch_seed(pcfg.seed, epoch), **common):
            for name, e in emb.items():
                if name in sgd:
                    sgd[name].step(e, y)
            bar.update(1)
        for t in sgd.values():
            t.end_epoch()
    if not sgd:
        bar.update(pcfg.epochs * math.ceil(n_tr / bs))
    probes.update({name: t.result() for name, t in sgd.items()})
    solver = {name: "sgd" if name in sgd else "lbfgs" for name in probes}
    del trainers, sgd
    correct = dict.fromkeys(probes, 0)
    for emb, y in _layer_batches(model, va_split, y_va, va_idx, **common):
        for name, e in emb.items():
            correct[name] += int((probes[name].predict(e).cpu() == y).sum())
        bar.update(1)
    bar.close()
    return {
        "probe_acc": {n: c / n_va for n, c in correct.items()},
        "n_features": {n: p.dim for n, p in probes.items()},
        "train_loss": {n: p.history for n, p in probes.items()},
        "solver": solver,
        "n_train": n_tr,
        "n_val": n_va,
        "n_classes": len(classes),
    }


def layer_probe_accuracies(
    trained: train.Trained,
    layers: Sequence[str] | None = None,
    *,
    ecfg: EvalConfig | None = None,
    epochs: int = 10,
    lr: float = 0.5,
    weight_decay: float = 1e-4,
    seed: int = 0,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    batch_size: int = 256,
    progress: bool = True,
    num_workers: int = 0,
    exact_max_bytes: int = ProbeConfig.exact_max_bytes,
) -> pd.DataFrame:
    """Subclass linear-probe accuracy at every requested layer of a trained model (cached).

    The training images of the model's dataset (its ``train_per_subclass`` subset, decoded as it
    was trained) and the validation images (``ecfg``'s subset, as :func:`paperlib.experiment.evaluate`
    scores them), restricted to the subclasses of the model's hierarchy, go through the network in
    batches; every layer's embedding of a batch (pooled and normalised as ``ecfg`` says) updates
    that layer's probe (see the module docstring for the probe and its memory bound). All layers
    share each forward pass: ``epochs + 1`` passes over the training images, one over the
    validation images.

    Parameters
    ----------
    trained : paperlib.train.Trained
    layers : sequence of str, optional
        Probe points (default all of the model's).
    ecfg : EvalConfig, optional
        How embeddings are taken (``pool``, ``l2_normalize``, ``val_per_subclass``,
        ``image_size``, ``decode_size``, ``extract_bf16``; ``factors`` is ignored). Default:
        ``EvalConfig(image_size=trained.config.image_size)`` (flattened maps, unit norm, every
        validation image); pass the profile's ``profile.eval_config()`` to match the cluster scores.
    epochs, lr, weight_decay, seed, batch_size, exact_max_bytes
        The probe's :class:`ProbeConfig` (``batch_size`` is also the forward batch; ``epochs``,
        ``lr`` and ``seed`` matter only to the layers streamed with SGD).
    data_root, cache_dir : path-like, optional
        See :mod:`paperlib.config`. The table is cached under ``<cache>/probes/<key>/probe.json``
        (:func:`probe_key`).
    device : str or torch.device
        ``"auto"`` picks CUDA when available; the probes live there too.
    progress : bool
    num_workers : int
        Decoding processes for image-file datasets (``profile.num_workers``).

    Returns
    -------
    pandas.DataFrame
        One row per layer, in depth order: ``layer``, ``depth`` (0-based position among all the
        model's probe points), ``rel_depth`` (0..1), ``probe_acc`` (validation top-1 accuracy on
        the subclass labels), ``solver`` (``"lbfgs"``: solved exactly; ``"sgd"``: streamed, its
        features beyond ``exact_max_bytes``). ``df.attrs`` holds ``n_train``, ``n_val``, ``n_classes``,
        ``n_features`` (per layer) and ``train_loss`` (per layer, per epoch).
    """
    device = train.resolve_device(device)
    cfg = trained.config
    ecfg = ecfg if ecfg is not None else EvalConfig(image_size=cfg.image_size)
    pcfg = ProbeConfig(
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        exact_max_bytes=exact_max_bytes,
    )
    points = extract.resolve_layers(trained.model, layers)
    names = [p.name for p in points]
    all_names = [p.name for p in trained.model.probe_points]
    root = cache_root(cache_dir)
    d = cache.artifact_dir(
        root, "probes", probe_key(cfg, ecfg, pcfg, names, data_root, getattr(trained, "epoch", None))
    )
    f = d / "probe.json"
    with contextlib.nullcontext() if cache.is_valid(f) else cache.lock(d, what=f"to fit probes {d}"):
        if cache.is_valid(f):
            res = cache.load(f)
        else:
            res = _compute(trained, points, ecfg, pcfg, data_root, cache_dir, device, progress, num_workers)
            cache.try_save(f, res, root=root)
    depth = {n: i for i, n in enumerate(all_names)}
    df = pd.DataFrame(
        {
            "layer": names,
            "depth": [depth[n] for n in names],
            "rel_depth": [depth[n] / max(1, len(all_names) - 1) for n in names],
            "probe_acc": [float(res["probe_acc"][n]) for n in names],
            "solver": [res["solver"][n] for n in names],
        }
    )
    df.attrs.update({k: res[k] for k in ("n_train", "n_val", "n_classes", "n_features", "train_loss")})
    return df


def probe_grid(
    profile,
    archs: Sequence[str],
    *,
    hierarchies: Sequence[str] = ("standard",),
    seeds: Sequence[int] = (0,),
    layers: Sequence[str] | None = None,
    pool: str = "flatten",
    l2_normalize: bool = True,
    shuffle_seed: int = 0,
    epochs: int = 10,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`layer_probe_accuracies` for every model of a grid (the models :func:`paperlib.experiment.run` trains).

    Returns
    -------
    pandas.DataFrame
        ``arch``, ``hierarchy``, ``seed``, ``layer``, ``depth``, ``rel_depth``, ``probe_acc``, ``solver``.
    """
    ecfg = profile.eval_config((1,), pool, l2_normalize)
    configs = [
        profile.train_config(a, hierarchy=h, seed=s, shuffle_seed=shuffle_seed)
        for a in archs
        for h in hierarchies
        for s in seeds
    ]
    experiment.validate_grid(configs, data_root)
    frames = []
    for cfg in configs:
        trained = train.train_model(
            cfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            num_workers=profile.num_workers,
            progress=progress,
            compile=profile.compile,
        )
        df = layer_probe_accuracies(
            trained,
            layers,
            ecfg=ecfg,
            epochs=epochs,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            batch_size=profile.eval_batch_size,
            progress=progress,
            num_workers=profile.num_workers,
        )
        frames.append(df.assign(arch=cfg.arch, hierarchy=cfg.hierarchy, seed=cfg.seed))
    cols = ["arch", "hierarchy", "seed", "layer", "depth", "rel_depth", "probe_acc", "solver"]
    return pd.concat(frames, ignore_index=True)[cols]
