"""No float64 on a device that has none: the probe, Ward's Gram matrix and BYOL's readout run on a fake
MPS device that refuses float64 as Apple's does."""

import weakref

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from paperlib import byol, cluster, models, probe
from paperlib.devices import float64_device

MPS = torch.device("mps")
REFUSAL = "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64"


def _device_type(x) -> str | None:
    """The device type ``x`` names, if it is a device or a device string."""
    if isinstance(x, torch.device):
        return x.type
    if isinstance(x, str) and x.split(":")[0] in ("cpu", "cuda", "mps"):
        return x.split(":")[0]
    return None


def _is_fake(x) -> bool:
    return _device_type(x) == "mps"


class FakeMPS(TorchFunctionMode):
    """Tensors "on" ``mps`` (really on the CPU) that refuse float64 as MPS does.

    Every call that names the device ``mps`` runs on the CPU instead, and its results are marked as on
    the fake device; so are the results of any call on a marked tensor, unless the call moves them to
    the CPU. A marked tensor reports ``device(type='mps')``, and a float64 result on the fake device
    raises MPS's error.
    """

    def __init__(self):
        super().__init__()
        self.marked = {}  # id -> weak reference of the tensors on the fake device

    def _on(self, t) -> bool:
        ref = self.marked.get(id(t))
        return ref is not None and ref() is t

    def _mark(self, t) -> None:
        self.marked[id(t)] = weakref.ref(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.device:  # naming the fake device is fine; using it is faked below
            return func(*args, **kwargs)
        if func == torch.Tensor.device.__get__:
            return MPS if self._on(args[0]) else func(*args)
        named = [a for a in tree_flatten((args, kwargs))[0] if _is_fake(a)]
        to_cpu = getattr(func, "__name__", "") == "cpu" or any(
            _device_type(a) == "cpu" for a in tree_flatten((args, kwargs))[0]
        )
        args, kwargs = tree_map(lambda a: torch.device("cpu") if _is_fake(a) else a, (args, kwargs))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        out = func(*args, **kwargs)
        if to_cpu and isinstance(out, torch.Tensor) and self._on(out):
            out = out.clone()  # on the CPU already, the same object: a copy is what leaves the fake device
        if named or (any(self._on(t) for t in inputs) and not to_cpu):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    if t.dtype == torch.float64:
                        raise TypeError(REFUSAL)
                    self._mark(t)
        return out


def test_the_fake_device_refuses_float64_as_mps_does():
    with FakeMPS():
        x = torch.ones(3).to(MPS)
        assert x.device == MPS and (x + 1).device == MPS and x.cpu().device.type == "cpu"
        with pytest.raises(TypeError, match="doesn't support float64"):
            x.to(torch.float64)
        with pytest.raises(TypeError, match="doesn't support float64"):
            torch.zeros(2, dtype=torch.float64, device=MPS)
        with pytest.raises(TypeError, match="doesn't support float64"):
            (x @ x).double()
        assert x.cpu().double().dtype == torch.float64  # on the CPU it is fine


def test_float64_goes_to_the_cpu_where_the_device_has_none():
    assert float64_device("mps") == torch.device("cpu") and float64_device("cuda:1") == torch.device("cuda:1")
    assert float64_device(torch.device("cpu")) == torch.device("cpu")


def test_a_linear_probe_fits_on_a_device_without_float64():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 12)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    ref = probe.fit_linear_probe(probe.array_batches(X, y, 32), 12, 2, epochs=3, device="cpu")
    with FakeMPS():
        fake = probe.fit_linear_probe(probe.array_batches(X, y, 32), 12, 2, epochs=3, device=MPS)
    torch.testing.assert_close(fake.weight, ref.weight)
    assert fake.history == pytest.approx(ref.history)


def test_ward_distances_on_a_device_without_float64():
    X = torch.randn(20, 6)
    ref = cluster.gram_sq_distances(X)
    with FakeMPS():
        got = cluster.gram_sq_distances(X.to(MPS))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_byol_readout_on_a_device_without_float64():
    model = models.build_model("resnet_mini", 3, width=2, image_size=32).eval()
    batches = [(torch.rand(8, 3, 32, 32), torch.arange(8) % 3)]
    with FakeMPS():
        fake = model.to(MPS)
        byol.fit_readout(fake, [(x.to(MPS), y.to(MPS)) for x, y in batches], 3)
