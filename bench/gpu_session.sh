#!/usr/bin/env bash
# The GPU rows of bench/ (issue 22), as one prepared script for a lent GPU machine; about 12 minutes on one
# H200 at most (the sum of the time limits below, 705 s, plus the environment line). Run from the repository root:
#   bash bench/gpu_session.sh                          # every step, logs in bench/logs/<UTC date-time>/
#   OUT=/some/folder bash bench/gpu_session.sh         # logs there ($OUT of the device tool comes back)
#   STEPS="archs_eager extract_stream" bash bench/gpu_session.sh   # some of the steps
#   DEVICE=cpu SMALL=1 OUT=/tmp/s bash bench/gpu_session.sh         # a dry run of every step on a CPU, tiny sizes
# Each step has its own time limit (timeout), so one slow or failing step leaves the others' numbers;
# bench_archs.py and bench_cifar_profile.py append each row to a JSON lines file as soon as it is measured,
# so a step cut by its limit keeps the rows it finished. Order: what the "done when" needs first.
set -u
OUT=${OUT:-bench/logs/$(date -u +%F_%H%M)}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PAPERLIB_CACHE=/tmp/paperlib_cache TQDM_DISABLE=1
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEV=${DEVICE:-cuda}; SM=${SMALL:+--small}
STEPS=${STEPS:-aug_tests archs_eager extract_stream archs_compiled paper_score cifar projection}
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name (limit ${limit}s) $(date -u +%T)"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$OUT/$name.txt" 2>&1; local rc=$?
  grep -v "^\s*$" "$OUT/$name.txt" | tail -n 30
  echo "=== $name: rc=$rc in $((SECONDS - t0)) s"
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import torch, torchvision, sklearn, scipy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'tv', torchvision.__version__, 'sklearn', sklearn.__version__, torch.cuda.get_device_name(0))"
  nproc; free -g | head -2; git rev-parse HEAD 2>/dev/null
} 2>&1 | tee "$OUT/env.txt"
# 1. crop boxes drawn on the GPU: the CUDA cases of the augmentation tests (the CPU ones run everywhere)
step aug_tests      40 $PY -m pytest -q -p no:cacheprovider tests/test_augment_device.py
# 2. training img/s, paperlib step vs bare, eager, all five paper architectures (224 px, batch 256, bf16)
step archs_eager   120 $PY bench/bench_archs.py --device $DEV $SM --kinds train_eager --out "$OUT/archs.jsonl"
# 3. extraction over a stream of 4 batches of 256, every probe point, kept on the GPU too, vs the bare forward
step extract_stream 90 $PY bench/bench_archs.py --device $DEV $SM --kinds extract_stream --stream 4 --families resnet vit --out "$OUT/archs.jsonl"
# 4. the same training rows compiled (compilation dominates: ResNet-50 and ViT first; what the limit cuts, a later session)
step archs_compiled 200 $PY bench/bench_archs.py --device $DEV $SM --kinds train_compiled --families resnet vit vgg vgg_bn vgg_ln --out "$OUT/archs.jsonl"
# 5. the paper scoring of one model end to end: entity-13's 52 classes x 50 validation images, 17 probe points, Ward 1..10
step paper_score   110 $PY bench/bench_paper_pipeline.py --device $DEV $SM --epochs 1 --train-per-class 2 --val-per-class 50 --no-compile
# 6. the cifar profile per model on a 50,000-image CIFAR-100-format fixture, 2 epochs each, projected to 100
step cifar         135 $PY bench/bench_cifar_profile.py --device $DEV $SM --epochs 2 --out "$OUT/cifar.jsonl"
# 7. the paper grid's GPU-hours from the measured rates
step projection     10 $PY bench/project_gpu_hours.py --rates "$OUT/archs.jsonl"
echo "logs in $OUT"
