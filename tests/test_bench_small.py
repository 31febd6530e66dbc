"""Each GPU benchmark of issue 22 runs in its small CPU mode (the same code path at a tiny size), and
project_gpu_hours.py reads the measured rates bench_archs.py writes. No speed is asserted."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(script: str, *args: str, timeout: int = 240) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    p = subprocess.run(
        [sys.executable, str(BENCH / script), "--device", "cpu", "--small", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    last = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert last, p.stdout[-3000:]
    return json.loads(last[-1][7:])


def test_bench_archs_small_every_family(tmp_path):
    out = tmp_path / "archs.jsonl"
    res = run_bench("bench_archs.py", "--out", str(out))
    assert res["errors"] == 0 and res["small"]
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    kinds = {(r["kind"], r["family"]) for r in rows}
    for fam in ("resnet", "vgg", "vgg_bn", "vgg_ln", "vit"):
        assert ("train_eager", fam) in kinds and ("extract_stream", fam) in kinds
    assert all(r["card"] == "CPU" and r["small"] for r in rows)


@pytest.mark.slow
def test_bench_cifar_profile_small(tmp_path):
    out = tmp_path / "cifar.jsonl"
    res = run_bench("bench_cifar_profile.py", "--families", "vgg_ln", "vit", "--out", str(out))
    assert res["errors"] == 0 and res["rows"] == 2
    assert all(r["n_train"] == 200 and r["img_s"] > 0 for r in map(json.loads, out.read_text().splitlines()))


@pytest.mark.slow
def test_bench_paper_pipeline_small():
    res = run_bench("bench_paper_pipeline.py")
    assert res["layers"] == 17 and res["eval_s"] > 0  # every probe point of ResNet-50 scored


def test_project_gpu_hours_reads_measured_rates(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("project_gpu_hours", BENCH / "project_gpu_hours.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [
        {"kind": "train_eager", "family": "vgg", "paperlib_img_s": 1000.0, "small": False},
        {"kind": "train_compiled", "family": "vgg", "paperlib_img_s": 1500.0, "small": False},
        {"kind": "train_eager", "family": "vgg", "paperlib_img_s": 9.0, "small": False},  # eager after compiled
        {"kind": "train_compiled", "family": "vit", "paperlib_img_s": 5.0, "small": True},  # a CPU test row
        {"kind": "train_compiled", "family": "vgg_bn", "error": "boom"},
        {"kind": "extract_stream", "family": "resnet", "ratio": 1.1, "small": False},
    ]
    f = tmp_path / "archs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rates = mod.read_rates(f)
    assert rates == {"vgg": 1500.0}
    assert mod.img_per_s("vgg", rates) == 1500.0
    assert mod.img_per_s("vit", rates) == mod.img_per_s("vit")  # no measurement: the FLOP-scaled estimate
    mod.main(f)
    assert "measured rates from" in capsys.readouterr().out


def test_gpu_session_script_parses_and_names_every_step():
    script = (BENCH / "gpu_session.sh").read_text()
    assert subprocess.run(["bash", "-n", str(BENCH / "gpu_session.sh")]).returncode == 0
    for name in ("aug_tests", "archs_eager", "extract_stream", "archs_compiled", "paper_score", "cifar", "projection"):
        assert f"step {name} " in script
    limits = [int(ln.split()[2]) for ln in script.splitlines() if ln.startswith("step ")]
    assert sum(limits) <= 12 * 60  # fits a short lease on one GPU


@pytest.mark.slow
def test_gpu_session_dry_run_on_cpu(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "SMALL": "1", "OUT": str(tmp_path), "STEPS": "archs_eager projection"}
    p = subprocess.run(
        ["bash", str(BENCH / "gpu_session.sh")], capture_output=True, text=True, timeout=240, env=env, cwd=BENCH.parent
    )
    assert "=== archs_eager: rc=0" in p.stdout and "=== projection: rc=0" in p.stdout, p.stdout[-3000:]
    assert len((tmp_path / "archs.jsonl").read_text().splitlines()) == 5
