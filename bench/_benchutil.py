"""Helpers shared by the benchmark scripts: the machine description, timing, medians, result lines.

Every benchmark prints a human-readable report and, last, one line ``RESULT {json}`` that
``bench/run_all.py`` collects (name, ratio, goal, ...). Nothing here asserts on speed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (plus family/model/stepping), else platform.processor()."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                k, v = (s.strip() for s in line.split(":", 1))
                info.setdefault(k, v)
    except OSError:
        return platform.processor() or "unknown CPU"
    name = info.get("model name", platform.processor() or "unknown CPU")
    extra = [f"{k} {info[k]}" for k in ("cpu family", "model", "stepping") if k in info]
    return f"{name} ({', '.join(extra)})" if extra else name


def machine() -> dict:
    """CPU model, core count, Python, torch version, threads and the CUDA device (if any)."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_device": cuda,
        "platform": platform.platform(),
    }


def machine_line() -> str:
    m = machine()
    return (
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"CUDA device: {m['cuda_device'] or 'none'}; load average {load_average()}"
    )


def load_average() -> str:
    """1-minute load average (other work on a shared machine slows every timing)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def set_threads(n: int | None, device) -> int:
    """Set torch's CPU threads: ``n`` if given (0 = torch's default), else 1 on CPU.

    One thread is the default for CPU runs because on a shared 2-core machine torch's default of
    one thread per core spins against the other processes' threads: a training step of the quick
    profile's resnet_mini measured 1.5-4.0 s with 2 threads and 0.46-0.58 s with 1 under load.
    """
    import torch

    if n is None:
        n = 1 if not str(device).startswith("cuda") else 0
    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def sync(device) -> None:
    """Wait for queued CUDA work (no-op on CPU)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device) -> tuple[float, object]:
    """Wall time of ``fn()`` with the device synchronised before and after."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def median(xs) -> float:
    return float(statistics.median(xs))


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def emit(result: dict) -> None:
    """Print the machine-readable result line (last line of every benchmark)."""
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
