#!/usr/bin/env bash
# The GPU rows of bench/, as one prepared script for a lent GPU machine (see bench/RESULTS.md).
# Run from the repository root with the machine's own python3 (torch, timm, scikit-learn there):
#   OUT=/some/folder bash bench/gpu_session.sh                      # every step
#   OUT=/some/folder STEPS="extract gpu_paths" bash bench/gpu_session.sh   # some of them
# Each step has its own time limit, so one slow or failing step leaves the others' numbers.
set -u
OUT=${OUT:-/tmp/gpu_bench}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PAPERLIB_CACHE=/tmp/paperlib_cache TQDM_DISABLE=1
PY=${PY:-python3}
STEPS=${STEPS:-train_eager paper_pipe train_compile extract gpu_paths ward}
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1; local rc=$?
  grep -v "^\s*$" "$OUT/$name.txt" | tail -n 40
  echo "=== $name: rc=$rc in $((SECONDS - t0)) s"
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import torch, torchvision, timm, sklearn, scipy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'tv', torchvision.__version__, 'timm', timm.__version__, 'sklearn', sklearn.__version__, torch.cuda.get_device_name(0))"
  nproc; free -g | head -2
} 2>&1 | tee "$OUT/env.txt"
step train_eager   ${T1:-100} $PY bench/bench_train_step.py --device cuda
step paper_pipe    ${T2:-170} $PY bench/bench_paper_pipeline.py --device cuda --epochs 3 --train-per-class 20 --val-per-class 3
step train_compile ${T3:-170} $PY bench/bench_train_step.py --device cuda --compile --repeats 3 --warmup 3
step extract       ${T4:-60}  $PY bench/bench_extract.py --device cuda --repeats 3
step gpu_paths     ${T6:-60}  $PY bench/check_gpu_paths.py
step ward          ${T5:-30}  $PY bench/bench_ward.py --device cuda
