"""Run every benchmark with its defaults, each in its own subprocess, and tabulate the results.

Runs ``bench_ward.py``, ``bench_train_step.py``, ``bench_extract.py`` and ``bench_book.py`` one after
the other (never in parallel: they would slow each other down), echoes their output, collects the
ratio each reports (the ``RESULT {json}`` line; ``bench_ward.py``'s "all ten factors / one tree"
line), and prints the machine description and a Markdown table: benchmark, measured ratio, goal,
met?. ``--device cuda`` is forwarded to the benchmarks that take ``--device`` (all but the book).
Nothing asserts on speed; the exit status is non-zero only if a benchmark failed to run.

Usage::

    python bench/run_all.py [--device cuda] [--only train_step extract] [--skip book]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import _benchutil as bu

HERE = Path(__file__).resolve().parent

# name -> (script, accepts --device, goal text)
BENCHMARKS = {
    "ward": ("bench_ward.py", True, "all ten factors / one tree <= 1.10x"),
    "train_step": ("bench_train_step.py", True, "paperlib step / bare step <= 1.10x"),
    "extract": ("bench_extract.py", True, "extract / bare forward <= 1.15x (flatten and avg)"),
    "book": ("bench_book.py", False, "none (warm / cold, informational)"),
}


def _parse(name: str, out: str) -> dict:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    if name == "ward":
        m = re.search(r"ratio\s+all ten factors / one tree:\s*([0-9.]+)\s*x", out)
        if m:
            r = float(m.group(1))
            return {"name": "ward", "ratio": r, "goal": 1.10, "goal_op": "<=", "met": r <= 1.10}
    return {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help='forwarded to the benchmarks that take it, e.g. "cuda"')
    p.add_argument("--only", nargs="*", default=None, choices=list(BENCHMARKS), help="run only these")
    p.add_argument("--skip", nargs="*", default=[], choices=list(BENCHMARKS), help="skip these")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    args = p.parse_args(argv)

    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    results, failed = {}, []
    for name in names:
        script, takes_device, _ = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script)]
        if args.device and takes_device:
            cmd += ["--device", args.device]
        print(f"\n=== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))}", flush=True)
        t0 = time.perf_counter()
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=str(bu.REPO))
            out, rc = res.stdout, res.returncode
            err = res.stderr
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err, rc = f"timed out after {args.timeout:.0f} s", -1
        wall = time.perf_counter() - t0
        print("\n".join(line for line in out.splitlines() if not line.startswith("RESULT ")))
        if rc != 0:
            print(f"[{name} exited {rc}] {err[-2000:]}", file=sys.stderr)
            failed.append(name)
        r = _parse(name, out)
        r["wall_s"] = wall
        r["rc"] = rc
        results[name] = r

    m = bu.machine()
    print("\n## Machine\n")
    print(f"- CPU: {m['cpu']}, {m['cores']} cores; load average {bu.load_average()}")
    print(f"- Python {m['python']}, torch {m['torch']}; CUDA device: {m['cuda_device'] or 'none'}")
    print(f"- device argument: {args.device or 'default (cpu)'}")
    print("\n## Results\n")
    print("| benchmark | measured ratio | goal | met? | wall s |")
    print("|---|---|---|---|---|")
    for name in names:
        r = results[name]
        goal_text = BENCHMARKS[name][2]
        ratio = r.get("ratio")
        if name == "extract" and "ratio_flatten" in r:
            measured = f"flatten {r['ratio_flatten']:.3f}x, avg {r['ratio_avg']:.3f}x"
        elif ratio is not None:
            measured = f"{ratio:.3f}x"
        else:
            measured = "no result"
        met = {True: "yes", False: "no", None: "n/a"}[r.get("met")] if r.get("rc") == 0 else "failed"
        if name == "book" and "cold_s" in r:
            measured += f" (cold {r['cold_s']:.1f} s, warm {r['warm_s']:.1f} s)"
        print(f"| {name} | {measured} | {goal_text} | {met} | {r['wall_s']:.0f} |")
        if name == "train_step" and "paperlib_img_s" in r:
            line = (
                f"| train_step img/s ({r.get('arch')}, {r.get('image_size')} px, {r.get('device')}) | "
                f"{r['paperlib_img_s']:.0f} img/s (bare {r['bare_img_s']:.0f}) |"
            )
            if r.get("arch") == "resnet50" and str(r.get("device", "")).startswith("cuda"):
                line += f" >= 2500 img/s on one H100 | {'yes' if r['paperlib_img_s'] >= 2500 else 'no'} | |"
            else:
                line += " (ResNet-50 224 px goal needs --device cuda) | n/a | |"
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
