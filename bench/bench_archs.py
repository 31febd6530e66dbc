"""Benchmark: every paper architecture, side by side in one run (issue 22).

For each family (``resnet``, ``vgg``, ``vgg_bn``, ``vgg_ln``, ``vit``: at the ``paper`` profile
ResNet-50, VGG-16, VGG-16-BN, VGG-16-LN, ViT-B/32 at 224 px, batch 256, bf16):

* training: paperlib's step vs the bare step (``bench_train_step.py``), eager, then compiled
  (``--compile``; all eager rows first, so a time limit that cuts the compiled ones keeps them);
* extraction over a batch stream: ``--stream`` batches of 256 at every probe point, vs the bare
  forward pass over the same images (``bench_extract.py``; on CUDA also ``keep="device"``, the
  embeddings left on the GPU as the scoring keeps them).

Each measurement is appended as one JSON line to ``--out`` as soon as it is done (so a run killed by
its time limit keeps what it measured); ``bench/project_gpu_hours.py --rates FILE`` reads the
training rates from that file. A ``RESULT`` line ends the run.

``--small`` is the same code path at a tiny size on the CPU (the ``smoke`` profile's mini models,
batches of 8, one step per block, no compilation unless ``--compile-small``): seconds, for the tests;
its numbers are CPU numbers, no goal applies to them.

Usage::

    python bench/bench_archs.py --device cuda --out bench/logs/archs.jsonl [--families resnet vit]
        [--kinds train_eager extract_stream train_compiled] [--no-compile] [--no-extract] [--stream 5]
    python bench/bench_archs.py --device cpu --small --out /tmp/archs.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import _benchutil as bu  # noqa: E402  (puts the repository on sys.path)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_extract  # noqa: E402
import bench_train_step  # noqa: E402

FAMILIES = ("resnet", "vgg", "vgg_bn", "vgg_ln", "vit")
KINDS = ("train_eager", "extract_stream", "train_compiled")


def _run(main, argv: list[str]) -> tuple[dict | None, str]:
    """Run a benchmark's ``main(argv)`` in this process; its RESULT dict (or None) and its output."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            main(argv)
    except Exception as e:  # one architecture failing leaves the others' rows
        return {"error": f"{type(e).__name__}: {e}"}, buf.getvalue()
    lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith("RESULT ")]
    return (json.loads(lines[-1][7:]) if lines else None), buf.getvalue()


def plan(args) -> list[tuple[str, str, list[str]]]:
    """(kind, family, argv) of every measurement, in running order."""
    dev = ["--device", args.device]
    if args.small:
        train = dev + [
            "--profile",
            "smoke",
            "--batch-size",
            "8",
            "--n-images",
            "16",
            "--steps",
            "1",
            "--repeats",
            "1",
            "--warmup",
            "1",
            "--no-components",
            "--threads",
            "1",
        ]
        extract = dev + [
            "--profile",
            "smoke",
            "--n-images",
            "16",
            "--batch-size",
            "8",
            "--repeats",
            "1",
            "--no-memory",
            "--threads",
            "1",
        ]
        compiled = args.compile_small
    else:
        train = dev + ["--steps", str(args.steps), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        extract = dev + ["--n-images", str(256 * args.stream), "--batch-size", "256", "--repeats", "3"]
        compiled = args.compile
    out = [("train_eager", f, train + ["--arch", f]) for f in args.families]
    if args.extract:
        out += [("extract_stream", f, extract + ["--arch", f]) for f in args.families]
    if compiled:
        out += [("train_compiled", f, train + ["--arch", f, "--compile"]) for f in args.families]
    return [row for row in out if row[0] in args.kinds]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="tiny CPU-sized run of the same code path (tests)")
    p.add_argument("--compile-small", action="store_true", help="with --small, also the compiled rows (slow on a CPU)")
    p.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument(
        "--kinds",
        nargs="*",
        default=list(KINDS),
        choices=KINDS,
        help="which measurements (default all; gpu_session.sh runs each kind as its own time-limited step)",
    )
    p.add_argument("--compile", default=True, action=argparse.BooleanOptionalAction)
    p.add_argument("--extract", default=True, action=argparse.BooleanOptionalAction)
    p.add_argument("--stream", type=int, default=5, help="batches of 256 in the extraction stream (default 5)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON lines file the rows are appended to")
    args = p.parse_args(argv)

    print(bu.machine_line(), flush=True)
    card = bu.machine()["cuda_device"] or "CPU"
    goal_t, goal_e = ("(CPU, tiny: no goal)",) * 2 if args.small else ("(goal 1.05x)", "(goal 1.15x)")
    rows = []
    for kind, fam, sub in plan(args):
        t0 = time.perf_counter()
        res, text = _run(bench_train_step.main if kind.startswith("train") else bench_extract.main, sub)
        row = {
            "kind": kind,
            "family": fam,
            "card": card,
            "device": args.device,
            "small": args.small,
            "wall_s": round(time.perf_counter() - t0, 2),
            **(res or {"error": "no RESULT line"}),
        }
        rows.append(row)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")
        if "error" in row:
            print(f"{kind:15} {fam:7} ERROR {row['error']}\n{text[-2000:]}", flush=True)
        elif kind.startswith("train"):
            print(
                f"{kind:15} {fam:7} {row['arch']:12} paperlib {row['paperlib_img_s']:9.0f} img/s  bare "
                f"{row['bare_img_s']:9.0f} img/s  ratio {row['ratio']:.3f}x {goal_t}  [{row['wall_s']:.0f} s]",
                flush=True,
            )
        else:
            ratios = "  ".join(f"{k[6:]} {v:.3f}x" for k, v in sorted(row.items()) if k.startswith("ratio_"))
            print(
                f"{kind:15} {fam:7} {row['arch']:12} extract / bare: {ratios} {goal_e}  [{row['wall_s']:.0f} s]",
                flush=True,
            )
    bu.emit(
        {
            "name": "archs",
            "card": card,
            "rows": len(rows),
            "errors": sum("error" in r for r in rows),
            "small": args.small,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
