#!/usr/bin/env bash
# One GPU run of a few minutes for issue 14: HeLo at the paper's configuration (DMER scale,
# batch 128) through the one training engine, K = 1, 8, 73 members stacked, eager then
# compiled (torch.compile, CUDA graphs via mode="reduce-overhead"), plus the K=8 one-at-a-time
# reference and a profile of one step. Results (logs + JSON) go to $OUT (default ./gpu_out).
#
#   bash benchmarks/gpu_train.sh            # on the GPU machine, from the repository root
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
py=${PYTHON:-python}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
run() {  # name, timeout_s, args...
  local name=$1 t=$2; shift 2
  echo "== $name: $*" | tee -a "$OUT/summary.txt"
  timeout "$t" "$py" benchmarks/bench_train.py --device cuda --json "$OUT/$name.json" "$@" \
    > "$OUT/$name.log" 2>&1
  echo "   rc=$?" >> "$OUT/summary.txt"
  grep -E "^K=|speed-up" "$OUT/$name.log" | tee -a "$OUT/summary.txt"
}
run eager_k1_k8 100 --ks 1,8 --steps 30 --warmup 5
run eager_k73 100 --ks 73 --steps 20 --warmup 3 --no-sequential
run compiled_k1_k8 150 --ks 1,8 --steps 30 --warmup 5 --compile yes
run compiled_k73 120 --ks 73 --steps 20 --warmup 3 --no-sequential --compile yes
run amp_k73 60 --ks 73 --steps 20 --warmup 3 --no-sequential --amp
timeout 40 "$py" benchmarks/bench_train.py --device cuda --profile > "$OUT/profile.log" 2>&1
echo "done; see $OUT/summary.txt"
