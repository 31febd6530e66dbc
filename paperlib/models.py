"""Model zoo and probe points: the networks whose hidden representations are clustered.

Every architecture is built by :func:`build_model` and carries its own list of
:class:`ProbePoint` objects (``model.probe_points``), named with the paper's layer
names and ordered by depth. A probe point names a submodule (a dotted path of
``model.named_modules()``) and says whether its *output* (forward hook) or its first
positional *input* (forward pre-hook) is the representation. The last probe point is
always the classifier's input (the penultimate layer, 2-D ``(B, D)``).

Architectures (:data:`ARCHITECTURES`)
-------------------------------------
Small models for 32x32 inputs (profiles ``smoke``, ``quick`` and ``cifar``):

``resnet_mini``
    ResNet-18 layout (torchvision :class:`~torchvision.models.resnet.BasicBlock`,
    blocks ``(2, 2, 2, 2)``, widths ``(w, 2w, 4w, 8w)``, default ``w = 16``) with a
    3x3 stride-1 stem and no max-pool. Probes ``stage1_block1`` .. ``stage4_block2``
    (outputs of the residual blocks, after the final ReLU), then ``penultimate``.
``vgg_mini``, ``vgg_mini_bn``, ``vgg_mini_ln``
    VGG-16 layout (13 3x3 convolutions in blocks ``(2, 2, 3, 3, 3)``, 2x2 max-pool
    after each block) with widths ``(w, 2w, 4w, 8w, 8w)``, default ``w = 8``; then
    ``fc6`` and ``fc7`` (``16w`` units each, ReLU, dropout 0.5 after each, as in
    torchvision's VGG) and the linear classifier. ``_bn`` / ``_ln`` put a batch /
    layer normalisation after every convolution and every dense layer (before the
    ReLU), as in Sec. 7.2 of the paper.
``vit_mini``
    A small ViT built like ``vit_b_32`` below (timm ``VisionTransformer``, no class token,
    ``global_pool="avg"``, ``fc_norm=False``, pre-norm blocks, ``mlp_ratio`` 4), whose patch
    embedding is an early-convolution stem (:class:`ConvStem`, after Xiao et al. 2021, "Early
    convolutions help transformers see better") instead of one strided 4x4 convolution: trained
    from scratch on a few thousand small images, the plain patch embedding left the ViT near chance
    on the smoke world's shapes (shuffled hierarchy: 0.39-0.51 after 600-1,600 steps at lr 1e-3 to
    1e-2), the stem lifts it to 0.71 in 600 steps at the paper's lr 1e-3. Each token still covers a
    4x4 patch (a 32-pixel image gives 8 x 8 = 64 patch tokens), embedding width ``w`` (default
    ``w = 64``; it must be a multiple of the 4 heads), depth 6 at every width, 4 heads.
    Probes ``block{i}_attn`` and ``block{i}_mlp``, ``i = 1..6`` (the same places as in
    ``vit_b_32``; shape ``(B, 64, w)``), then ``penultimate``, the input of ``head``,
    ``(B, w)``.

Paper-size models for 224x224 ImageNet / BREEDS images (profile ``paper``):

``resnet50``
    torchvision ResNet-50 (``weights=None``). Probes ``stage1_block1`` ..
    ``stage4_block3`` (``layer1.0`` .. ``layer4.2``; 16 blocks) and ``penultimate``.
``vgg16``, ``vgg16_bn``, ``vgg16_ln``
    torchvision VGG-16 layout (same module names and parameter shapes as
    ``torchvision.models.vgg16`` for ``vgg16``, 4096-unit ``fc6``/``fc7``). ``vgg16_bn``
    differs from torchvision's ``vgg16_bn`` in also normalising the two dense layers
    (the paper: "after every convolutional and dense layer").
``vit_b_32``
    timm ``vit_base_patch32_224`` (``pretrained=False``) with average pooling and no
    class token (``class_token=False, global_pool="avg", fc_norm=False``): Table G.1's
    "ViT-B/32 (average pooling)". The 224-pixel input gives 7 x 7 = 49 patch tokens and
    no other token. Probes ``block{i}_attn`` (the residual stream after the attention
    branch: the input of ``blocks.{i-1}.norm2``, shape ``(B, 49, 768)``) and
    ``block{i}_mlp`` (after the MLP branch: the output of ``blocks.{i-1}``), ``i = 1..12``,
    then ``penultimate``: the input of ``head``, ``(B, 768)``, which is the mean over the
    49 patch tokens of the final layer norm ``norm`` applied to each token,
    ``norm(block12_mlp).mean(1)``. ``fc_norm=False`` keeps timm's final norm *before*
    the pooling, as the JAX ViT of Dosovitskiy et al. does with ``classifier="gap"``
    (``encoder_norm`` on every token, then the mean); timm's own default for
    ``global_pool="avg"`` (``fc_norm=None``) would instead normalise the pooled vector
    (MAE style).

Penultimate layer
-----------------
ResNets and the ViT get a separate ``penultimate`` probe point: the input of the final
linear layer (``fc`` / ``head``), shape ``(B, D)``. For the VGGs the classifier's input
*is* ``fc7`` (post-ReLU; the dropout that follows is the identity in evaluation mode),
so there is no separate ``penultimate`` entry: ``fc7`` is the last probe point and
serves as the penultimate layer.

Choices that follow the authors' released JAX code (google-research,
``representation_clustering/``)
---------------------------------------------------------------------------------
* The final classifier layer is initialised to zero (``resnet_v1.py``:
  ``nn.Dense(num_classes, kernel_init=zeros)``; flax biases start at zero).
* Batch-norm decay 0.99, i.e. PyTorch ``momentum=0.01``, on every BatchNorm
  (``config.batch_norm_decay = 0.99``).
* Weight decay only on parameters with ``ndim > 1`` (``train.py``:
  ``if x.ndim > 1``); see :func:`param_groups`.
* ``resnet_mini`` zero-initialises the scale of the second BN of every basic block,
  as the authors' ``ResNetBlock`` (ResNet-18) does; their bottleneck block
  (ResNet-50) does not, and neither does our ``resnet50`` (torchvision default).

Layer normalisation in the VGG-LN models
----------------------------------------
The released code contains no VGG (only ResNet-18/50), so the authors' VGG-LN is not
available. The paper cites Ba et al. (2016) for layer normalisation, whose statistics are
shared by *all* hidden units of a layer; for a convolution that is every channel at every
position of one example, the definition Wu & He (2018, "Group Normalization", Fig. 2) give
for LN in a CNN, and ``nn.GroupNorm(1, C)`` (PyTorch's documentation: one group "is
equivalent with LayerNorm"; flax: ``nn.GroupNorm(num_groups=1)``). So each convolution is
followed by ``nn.GroupNorm(1, C, eps=1e-6)``: per-example mean and variance over
``(C, H, W)``, learned per-channel scale and bias. Dense layers get an ordinary
``nn.LayerNorm`` over their units (``eps=1e-6``, flax's default).

Not the per-position alternative (flax's ``nn.LayerNorm()`` default on NHWC maps, i.e.
``timm.layers.LayerNorm2d``: each position normalised over its channels only, ConvNeXt
style), which this module used before: on the ``smoke`` world (width 8) that VGG never
learnt the shuffled hierarchy (superclass accuracy 0.43-0.50 at lr 0.001-0.01, also with
1,600 steps). Normalising each pixel of the first convolution's 8 channels to unit size
erases per-pixel contrast (a flat, noisy background becomes as loud as the object and its
texture); without that one norm the per-position model reaches 0.72.

The small ``vgg_mini_ln`` also standardises the weights of its convolutions
(:class:`WSConv2d`, Qiao et al. 2019, "Micro-Batch Training with Batch-Channel Normalization
and Weight Standardization"; the batch-free recipe of Kolesnikov et al.'s BiT: GroupNorm with
weight-standardised convolutions). Measured on the ``smoke`` world (width 8, shuffled
hierarchy, 1 thread): with layer norm alone the deep feature maps lose their dependence on
the image (the spread across images of a ``conv5`` unit falls from 0.07 at initialisation to
0.004 after 300 steps at lr 0.02, while layer norm holds each map at unit spread within the
image), and the model stays at chance (0.25) at lr 0.02 and above, 0.50-0.59 at 0.005-0.01.
Layer norm centres a map over all its channels together, not each channel across images as
batch norm does, so each filter's constant (DC) response to the rectified input passes
through and grows with depth; a zero-mean filter has none. With standardised weights the
same model learns: the smoke recipe (lr 0.02, 40 epochs) reached 0.991 (shuffled) and 0.998
(standard) with two threads, 0.991 (shuffled) with one; it sits at chance for 9-12 epochs first,
so the earlier lr 0.03 in 30 epochs stopped at 0.56 (shuffled) in a two-thread build. The paper's ``vgg16_ln`` keeps
plain convolutions: weight standardisation is a substitution of the miniature (chapter 08
states it).

Initialisation otherwise follows torchvision (Kaiming-normal convolutions, VGG dense
layers ``N(0, 0.01)``) and timm for the ViT.

Importing this module has no side effects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import skip_init

from . import names

__all__ = [
    "ARCHITECTURES",
    "BN_MOMENTUM",
    "LN_EPS",
    "ProbePoint",
    "WSConv2d",
    "build_model",
    "default_image_size",
    "final_layer",
    "param_groups",
    "probe_points",
]

#: PyTorch batch-norm momentum, equal to the authors' batch-norm decay of 0.99.
BN_MOMENTUM: float = 0.01
#: Epsilon of the layer norms in the ``*_ln`` VGGs (flax ``nn.LayerNorm`` / ``nn.GroupNorm`` default).
LN_EPS: float = 1e-6

_MINI = names.SMALL_ARCHITECTURES
_PAPER = names.PAPER_ARCHITECTURES

#: All valid architecture names for :func:`build_model` (:data:`paperlib.names.ARCHITECTURES`).
ARCHITECTURES: tuple[str, ...] = names.ARCHITECTURES

_DEFAULT_WIDTH = {"resnet_mini": 16, "vgg_mini": 8, "vgg_mini_bn": 8, "vgg_mini_ln": 8, "vit_mini": 64}

# vit_mini: patch side, blocks and attention heads (the same at every width).
VIT_MINI_PATCH, VIT_MINI_DEPTH, VIT_MINI_HEADS = 4, 6, 4

# VGG-16: number of 3x3 convolutions in each of the five blocks.
_VGG16_BLOCKS = (2, 2, 3, 3, 3)


@dataclass(frozen=True)
class ProbePoint:
    """A place in a model whose activations are clustered.

    Parameters
    ----------
    name : str
        The paper's layer name, e.g. ``"stage1_block1"``, ``"conv1_1"``, ``"fc6"``,
        ``"block3_attn"`` or ``"penultimate"``.
    module : str
        Dotted path of a submodule, as listed by ``model.named_modules()``.
    where : {"output", "input"}
        ``"output"``: the module's output (register a forward hook);
        ``"input"``: the module's first positional input (forward pre-hook).
    """

    name: str
    module: str
    where: str = "output"

    def __post_init__(self) -> None:
        if self.where not in ("output", "input"):
            raise ValueError(f"ProbePoint.where must be 'output' or 'input', got {self.where!r}")


# ----------------------------------------------------------------------------- helpers


def _check_arch(arch: str) -> None:
    names.check("architecture", arch)


def _resolve_width(arch: str, width: int | None) -> int | None:
    """Return the width to use, or raise if a width is given for a paper-size model."""
    if arch in _PAPER:
        if width is not None:
            raise ValueError(f"width is only supported for the small models {_MINI}, not {arch!r}")
        return None
    width = _DEFAULT_WIDTH[arch] if width is None else int(width)
    if width < 1:
        raise ValueError(f"width must be a positive integer, got {width}")
    return width


def default_image_size(arch: str) -> int:
    """Side length in pixels of the square images an architecture is meant for.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`.

    Returns
    -------
    int
        32 for the small models, 224 for the paper-size ones.
    """
    _check_arch(arch)
    return 32 if arch in _MINI else 224


def _set_bn_momentum(model: nn.Module, momentum: float = BN_MOMENTUM) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def _no_inplace_relu(model: nn.Module) -> None:
    # Hooks may keep references to activations; in-place ReLUs would silently rewrite
    # a hooked tensor (e.g. a conv output), so switch them off everywhere.
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False


def _zero_(layer: nn.Linear) -> None:
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


# ----------------------------------------------------------------------------- ResNets


class ResNetMini(nn.Module):
    """ResNet-18-style network for small (e.g. 32x32) images.

    3x3 stride-1 stem convolution + BN + ReLU (no max-pool), four stages of two
    torchvision ``BasicBlock``s with widths ``(w, 2w, 4w, 8w)`` (stride 2 at the start
    of stages 2-4, 1x1 projection shortcuts where shapes change), global average
    pooling and a linear classifier. Module names follow torchvision's ResNet
    (``conv1``, ``bn1``, ``layer1`` .. ``layer4``, ``avgpool``, ``fc``).

    Parameters
    ----------
    num_classes : int
        Number of outputs.
    width : int
        Channels of the first stage ``w``.
    blocks : tuple of int
        Basic blocks per stage.

    Notes
    -----
    Input ``(B, 3, H, W)``; stage outputs ``(B, w * 2**(s-1), H / 2**(s-1), W / 2**(s-1))``;
    logits ``(B, num_classes)``.
    """

    def __init__(self, num_classes: int, width: int = 16, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        from torchvision.models.resnet import BasicBlock, conv1x1

        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        in_ch = width
        for s, n_blocks in enumerate(blocks):
            out_ch = width * 2**s
            stride = 1 if s == 0 else 2
            layers = []
            for b in range(n_blocks):
                st = stride if b == 0 else 1
                down = None
                if st != 1 or in_ch != out_ch:
                    down = nn.Sequential(conv1x1(in_ch, out_ch, st), nn.BatchNorm2d(out_ch))
                layers.append(BasicBlock(in_ch, out_ch, stride=st, downsample=down))
                in_ch = out_ch
            self.add_module(f"layer{s + 1}", nn.Sequential(*layers))
        self.num_stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # As the authors' ResNetBlock: the last BN of each residual branch starts at 0.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, 3, H, W)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _resnet_probes(blocks: tuple[int, ...]) -> tuple[ProbePoint, ...]:
    pts = [
        ProbePoint(f"stage{s + 1}_block{b + 1}", f"layer{s + 1}.{b}") for s, n in enumerate(blocks) for b in range(n)
    ]
    pts.append(ProbePoint("penultimate", "fc", "input"))
    return tuple(pts)


def _build_resnet50(num_classes: int) -> nn.Module:
    from torchvision.models import resnet50

    return resnet50(weights=None, num_classes=num_classes)


# ----------------------------------------------------------------------------- VGGs


class WSConv2d(nn.Conv2d):
    """A convolution with standardised weights (Qiao et al. 2019).

    Each filter ``w`` of shape ``(in_channels, kh, kw)`` is used as ``(w - mean(w)) / (std(w) + eps)``
    (population std over its ``in_channels * kh * kw`` entries); the stored parameter is unchanged, so
    the ``state_dict`` keys and shapes equal :class:`torch.nn.Conv2d`'s. Input ``(B, C_in, H, W)``,
    output as the plain convolution's.
    """

    eps: float = 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, H', W')``."""
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        std = w.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        return self._conv_forward(x, (w - mean) / (std + self.eps), self.bias)


class VGG(nn.Module):
    """VGG-16 layout with optional normalisation after every conv and dense layer.

    ``features``: 13 blocks of ``Conv2d(3x3, padding 1) [+ norm] + ReLU`` with a 2x2
    max-pool after each of the five groups ``(2, 2, 3, 3, 3)``; ``avgpool``: adaptive
    average pooling to ``pool_size x pool_size``; ``classifier``:
    ``Linear [+ norm] + ReLU + Dropout`` twice (``fc6``, ``fc7``) and the output
    ``Linear``. Without normalisation the module names and parameter shapes equal
    torchvision's ``vgg16``.

    Parameters
    ----------
    num_classes : int
        Number of outputs.
    widths : tuple of int
        Output channels of the convolutions in each of the five groups.
    fc_units : int
        Units of ``fc6`` and ``fc7``.
    pool_size : int
        Side of the pooled feature map fed to ``fc6`` (7 in torchvision's VGG-16;
        ``image_size // 32`` for the small models).
    norm : {None, "bn", "ln"}
        Normalisation inserted after every convolution and dense layer (before the
        ReLU): ``BatchNorm2d``/``BatchNorm1d``, or layer norm (``GroupNorm(1, C)``:
        over all channels and positions of an example / ``LayerNorm`` over units,
        ``eps=1e-6``; see the module notes).
    dropout : float
        Dropout probability after the ReLU of ``fc6`` and ``fc7``.
    dense_init : {"torchvision", "kaiming"}
        ``"torchvision"``: dense weights from N(0, 0.01), right for VGG-16's 25,088- and
        4,096-wide inputs; ``"kaiming"``: He-normal over the fan-in, needed by the small
        models whose dense layers see a few dozen inputs (N(0, 0.01) there shrinks the
        signal ~100-fold per layer and the network does not train).
    weight_standardize : bool
        Use :class:`WSConv2d` for the convolutions (``vgg_mini_ln``; module notes).

    Notes
    -----
    Input ``(B, 3, H, W)``; ``conv{b}_{i}`` outputs ``(B, widths[b-1], H / 2**(b-1),
    W / 2**(b-1))``; ``fc6``/``fc7`` outputs ``(B, fc_units)``; logits
    ``(B, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (64, 128, 256, 512, 512),
        fc_units: int = 4096,
        pool_size: int = 7,
        norm: str | None = None,
        dropout: float = 0.5,
        blocks: tuple[int, ...] = _VGG16_BLOCKS,
        dense_init: str = "torchvision",
        weight_standardize: bool = False,
    ):
        super().__init__()
        if norm not in (None, "bn", "ln"):
            raise ValueError(f"norm must be None, 'bn' or 'ln', got {norm!r}")
        conv_norm, dense_norm = _norm_factories(norm)
        layers: list[nn.Module] = []
        in_ch = 3
        conv = WSConv2d if weight_standardize else nn.Conv2d
        for n_convs, ch in zip(blocks, widths):
            for _ in range(n_convs):
                layers.append(conv(in_ch, ch, kernel_size=3, padding=1))
                if conv_norm is not None:
                    layers.append(conv_norm(ch))
                layers.append(nn.ReLU())
                in_ch = ch
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        head: list[nn.Module] = []
        d_in = in_ch * pool_size * pool_size
        # skip_init: the large dense layers are initialised once, below (saves seconds).
        for _ in range(2):
            head.append(skip_init(nn.Linear, d_in, fc_units))
            if dense_norm is not None:
                head.append(dense_norm(fc_units))
            head += [nn.ReLU(), nn.Dropout(p=dropout)]
            d_in = fc_units
        head.append(skip_init(nn.Linear, d_in, num_classes))
        self.classifier = nn.Sequential(*head)

        # torchvision's VGG initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                if dense_init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, 3, H, W)``."""
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)


def _norm_factories(
    norm: str | None,
) -> tuple[Callable[[int], nn.Module] | None, Callable[[int], nn.Module] | None]:
    if norm is None:
        return None, None
    if norm == "bn":
        return nn.BatchNorm2d, nn.BatchNorm1d
    # Layer norm of a conv map over (C, H, W) per example, as Ba et al. define it (module notes).
    return (lambda c: nn.GroupNorm(1, c, eps=LN_EPS)), (lambda d: nn.LayerNorm(d, eps=LN_EPS))


def _vgg_probes(norm: str | None, blocks: tuple[int, ...] = _VGG16_BLOCKS) -> tuple[ProbePoint, ...]:
    """Probe points of :class:`VGG`: the ReLU outputs of every conv and of fc6, fc7."""
    per_layer = 2 if norm is None else 3  # conv/linear [+ norm] + relu
    pts = []
    idx = 0
    for b, n_convs in enumerate(blocks):
        for i in range(n_convs):
            idx += per_layer
            pts.append(ProbePoint(f"conv{b + 1}_{i + 1}", f"features.{idx - 1}"))
        idx += 1  # max-pool
    idx = 0
    for name in ("fc6", "fc7"):
        idx += per_layer
        pts.append(ProbePoint(name, f"classifier.{idx - 1}"))
        idx += 1  # dropout
    return tuple(pts)


def _vgg_norm(arch: str) -> str | None:
    if arch.endswith("_bn"):
        return "bn"
    if arch.endswith("_ln"):
        return "ln"
    return None


# ----------------------------------------------------------------------------- ViT


def _build_vit_b_32(num_classes: int, image_size: int) -> nn.Module:
    """ViT-B/32 whose head reads the mean of the patch tokens (no class token).

    ``fc_norm=False``: the final ``norm`` acts on every token and ``fc_norm`` is the
    identity, so ``head``'s input is ``norm(tokens).mean(1)`` (the JAX ViT's ``"gap"``).
    """
    import timm

    return timm.create_model(
        "vit_base_patch32_224",
        pretrained=False,
        num_classes=num_classes,
        img_size=image_size,
        class_token=False,
        global_pool="avg",
        fc_norm=False,
    )


class ConvStem(nn.Module):
    """Early-convolution patch embedding of :func:`_build_vit_mini` (Xiao et al. 2021).

    Three 3x3 convolutions (strides 1, 2, 2; ``embed_dim / 2``, ``embed_dim / 2`` and
    ``embed_dim`` channels, each with batch norm and ReLU) and a 1x1 projection: one token per 4x4
    patch, as the strided convolution it replaces. Takes timm's ``PatchEmbed`` arguments.

    Notes
    -----
    Input ``(B, 3, H, W)``; output tokens ``(B, H / 4 * W / 4, embed_dim)``.
    """

    def __init__(self, img_size: int = 32, patch_size: int = 4, in_chans: int = 3, embed_dim: int = 32, **_):
        super().__init__()
        if patch_size != 4:
            raise ValueError(f"ConvStem makes 4x4 patches (strides 1, 2, 2), got patch_size {patch_size}")
        c = max(1, embed_dim // 2)
        self.proj = nn.Sequential(
            nn.Conv2d(in_chans, c, 3, 1, 1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, 2, 1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, embed_dim, 3, 2, 1),
            nn.BatchNorm2d(embed_dim),
            nn.ReLU(),
            nn.Conv2d(embed_dim, embed_dim, 1),
        )
        side = img_size if isinstance(img_size, int) else img_size[0]
        self.img_size, self.patch_size = (side, side), (4, 4)
        self.grid_size = (side // 4, side // 4)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.dynamic_img_pad = False

    def feat_ratio(self, as_scalar: bool = True) -> int:
        return 4

    def dynamic_feat_size(self, img_size: tuple[int, int]) -> tuple[int, int]:
        return img_size[0] // 4, img_size[1] // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, H / 4 * W / 4, embed_dim)`` of images ``(B, 3, H, W)``."""
        return self.proj(x).flatten(2).transpose(1, 2)


def _build_vit_mini(num_classes: int, width: int, image_size: int) -> nn.Module:
    """Small ViT for 32-pixel images, laid out as :func:`_build_vit_b_32` (no class token, the
    head reads ``norm(tokens).mean(1)``): a :class:`ConvStem` making one token per 4x4 patch,
    ``width``-dim tokens, 6 blocks of 4 heads.
    """
    from timm.models.vision_transformer import VisionTransformer

    if image_size % VIT_MINI_PATCH:
        raise ValueError(
            f"vit_mini cuts images into {VIT_MINI_PATCH}x{VIT_MINI_PATCH} patches, so the "
            f"image size must be divisible by {VIT_MINI_PATCH}; got {image_size}"
        )
    if width % VIT_MINI_HEADS:
        raise ValueError(
            f"vit_mini splits its width over {VIT_MINI_HEADS} attention heads, so the width "
            f"must be divisible by {VIT_MINI_HEADS}; got {width}"
        )
    return VisionTransformer(
        img_size=image_size,
        patch_size=VIT_MINI_PATCH,
        num_classes=num_classes,
        embed_dim=width,
        depth=VIT_MINI_DEPTH,
        num_heads=VIT_MINI_HEADS,
        mlp_ratio=4.0,
        class_token=False,
        global_pool="avg",
        fc_norm=False,
        embed_layer=ConvStem,
    )


def _vit_probes(depth: int = 12) -> tuple[ProbePoint, ...]:
    pts = []
    for i in range(depth):
        pts.append(ProbePoint(f"block{i + 1}_attn", f"blocks.{i}.norm2", "input"))
        pts.append(ProbePoint(f"block{i + 1}_mlp", f"blocks.{i}"))
    pts.append(ProbePoint("penultimate", "head", "input"))
    return tuple(pts)


# ----------------------------------------------------------------------------- public


def probe_points(arch: str, *, width: int | None = None, image_size: int | None = None) -> tuple[ProbePoint, ...]:
    """Probe points of an architecture, ordered by depth.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`.
    width, image_size : int, optional
        As for :func:`build_model` (validated the same way; the names and module
        paths do not depend on them).

    Returns
    -------
    tuple of ProbePoint
        The last one is the penultimate layer, the classifier's 2-D ``(B, D)`` input
        (``"penultimate"`` for ResNets and the ViT, ``"fc7"`` for the VGGs).

    Raises
    ------
    ValueError
        For an unknown ``arch`` (the message lists :data:`ARCHITECTURES`) or a width
        given for a paper-size model.
    """
    _check_arch(arch)
    _resolve_width(arch, width)
    if arch == "resnet_mini":
        return _resnet_probes((2, 2, 2, 2))
    if arch == "resnet50":
        return _resnet_probes((3, 4, 6, 3))
    if arch == "vit_b_32":
        return _vit_probes(12)
    if arch == "vit_mini":
        return _vit_probes(VIT_MINI_DEPTH)
    return _vgg_probes(_vgg_norm(arch))


def build_model(arch: str, num_classes: int, *, width: int | None = None, image_size: int | None = None) -> nn.Module:
    """Build a randomly initialised classifier (never downloads weights).

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`.
    num_classes : int
        Number of logits (the superclasses the model is trained on).
    width : int, optional
        Base channel width of the small models (``resnet_mini``: 16, ``vgg_mini*``: 8;
        ``vit_mini``: the token width, 64, a multiple of its 4 heads). Must be ``None`` for
        the paper-size models.
    image_size : int, optional
        Input side length; defaults to :func:`default_image_size`. Used by
        ``vgg_mini*`` (``fc6`` sees an ``image_size // 32`` square map) and by
        ``vit_b_32`` (position embeddings; must be a multiple of 32) and ``vit_mini`` (a
        multiple of its patch size 4); the ResNets and
        the paper-size VGGs (adaptive 7x7 pooling) accept any size.

    Returns
    -------
    torch.nn.Module
        Maps images ``(B, 3, image_size, image_size)`` to logits ``(B, num_classes)``.
        Has attributes ``probe_points`` (:func:`probe_points`) and ``arch``. The final
        linear layer is zero-initialised, every BatchNorm has ``momentum=0.01`` and
        no ReLU is in-place.

    Raises
    ------
    ValueError
        For an unknown ``arch`` (the message lists :data:`ARCHITECTURES`), a width
        given for a paper-size model, a width ``vit_mini``'s heads cannot share, or an
        image size the model cannot take.
    """
    _check_arch(arch)
    width = _resolve_width(arch, width)
    if image_size is None:
        image_size = default_image_size(arch)
    image_size = int(image_size)
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")

    if arch == "resnet_mini":
        model = ResNetMini(num_classes, width=width)
        head = model.fc
    elif arch == "resnet50":
        model = _build_resnet50(num_classes)
        head = model.fc
    elif arch == "vit_b_32":
        if image_size % 32:
            raise ValueError(f"vit_b_32 needs an image size divisible by 32, got {image_size}")
        model = _build_vit_b_32(num_classes, image_size)
        head = model.head
    elif arch == "vit_mini":
        model = _build_vit_mini(num_classes, width, image_size)
        head = model.head
    elif arch.startswith("vgg_mini"):
        if image_size < 32:
            raise ValueError(f"{arch} needs images of at least 32 pixels, got {image_size}")
        model = VGG(
            num_classes,
            widths=(width, 2 * width, 4 * width, 8 * width, 8 * width),
            fc_units=16 * width,
            pool_size=image_size // 32,
            norm=_vgg_norm(arch),
            dense_init="kaiming",
            weight_standardize=_vgg_norm(arch) == "ln",  # module notes: layer norm alone does not learn here
        )
        head = model.classifier[-1]
    else:  # vgg16, vgg16_bn, vgg16_ln
        model = VGG(num_classes, norm=_vgg_norm(arch))
        head = model.classifier[-1]

    _zero_(head)
    _set_bn_momentum(model)
    _no_inplace_relu(model)
    model.arch = arch
    model.probe_points = probe_points(arch, width=width if arch in _MINI else None)
    return model


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into a weight-decayed and a non-decayed group.

    As the authors' ``train.py`` (``x.ndim > 1``): weights of convolutions and dense
    layers are decayed; 1-D parameters (biases, norm scales and shifts) are not.
    Parameters a model lists in ``model.no_weight_decay()`` (timm's convention: the
    ViT's ``pos_embed``; it has no class token) are not decayed either.

    Parameters
    ----------
    model : torch.nn.Module
        The model to optimise.
    weight_decay : float
        Weight decay of the decayed group.

    Returns
    -------
    list of dict
        Optimizer parameter groups ``{"params", "weight_decay", "name"}`` with names
        ``"decay"`` and ``"no_decay"``; an empty group is left out.
    """
    skip: set[str] = set()
    if hasattr(model, "no_weight_decay"):
        skip = set(model.no_weight_decay())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay), "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]
    return [g for g in groups if g["params"]]


def final_layer(model: nn.Module) -> nn.Linear:
    """The model's final linear layer, the one that maps the penultimate layer to the logits.

    ``model.fc`` (ResNets), ``model.head`` (ViTs) or ``model.classifier[-1]`` (VGGs). Its input
    ``(B, D)`` is the penultimate layer; its output ``(B, num_classes)`` the logits.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :func:`build_model` (or one laid out the same way).

    Returns
    -------
    torch.nn.Linear

    Raises
    ------
    ValueError
        If the model has no such layer.

    Examples
    --------
    >>> final_layer(build_model("resnet_mini", 3, width=2)).out_features
    3
    """
    for name in ("fc", "head"):
        layer = getattr(model, name, None)
        if isinstance(layer, nn.Linear):
            return layer
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and len(classifier) and isinstance(classifier[-1], nn.Linear):
        return classifier[-1]
    raise ValueError(f"cannot find the final linear layer (fc, head or classifier[-1]) of {type(model).__name__}")
