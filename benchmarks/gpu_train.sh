#!/usr/bin/env bash
# One GPU run, under 7 minutes: the one training engine at DMER's scale on the device.
#
# Needs: python3 with a CUDA build of torch and NumPy installed (the GPU machine has no
# network; nothing else of the project's environment is used). Run from the repository root:
#
#   OUT=gpu_out bash benchmarks/gpu_train.sh
#
# Measures what real LOSO does: synthetic DMER-scale tensors (913 features, ~50,688 windows a
# fold), fold sizes that differ (ragged epochs, per-member step counts), K = 1 and 73 members,
# eager and compiled (the whole step as one CUDA graph), fp32 / tf32 / bf16, HeLo and the deep
# baselines; then the projected minutes of Tables 1-2's LOSO. Every result is appended to
# $OUT/results.jsonl and $OUT/summary.txt as soon as it is measured. Files in $OUT (5):
# env.txt, summary.txt, results.jsonl, log.txt, kernels.txt.
#
# A smoke run of the plumbing on a CPU (seconds, numbers meaningless):
#   DEVICE=cpu BIG_K=2 STEPS=1 WARMUP=1 KERNELS=no COMPILE=no OUT=/tmp/smoke \
#     bash benchmarks/gpu_train.sh
set -u
OUT=${OUT:-gpu_out}
DEVICE=${DEVICE:-cuda} BIG_K=${BIG_K:-73} STEPS=${STEPS:-20} WARMUP=${WARMUP:-5}
KERNELS=${KERNELS:-yes} COMPILE=${COMPILE:-yes}
mkdir -p "$OUT"
export PYTHONPATH=$PWD DO_NOT_TRACK=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
S="$OUT/summary.txt" J="$OUT/results.jsonl" L="$OUT/log.txt"
if ! { { [ "$DEVICE" != cuda ] || nvidia-smi; } && "$py" -c "import numpy, torch; print('torch',
torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0)
if torch.cuda.is_available() else 'no GPU', 'numpy', numpy.__version__)"; } \
    > "$OUT/env.txt" 2>&1; then
  echo "needs python3 with a CUDA build of torch and numpy (see $OUT/env.txt)" | tee -a "$S"
  exit 1
fi
tail -1 "$OUT/env.txt" | tee -a "$S"
run() {  # name, timeout_s, bench_train arguments...
  local name=$1 t=$2; shift 2
  echo "== $name ($*)" | tee -a "$S" >> "$L"
  timeout "$t" "$py" benchmarks/bench_train.py --device "$DEVICE" --jsonl "$J" --tag "$name" "$@" \
    > "$OUT/.run" 2>&1
  echo "   rc=$?" >> "$S"
  cat "$OUT/.run" >> "$L"
  grep -E "samples/s|speed-up|^projected" "$OUT/.run" | sed "s/^/   /" >> "$S"
  rm -f "$OUT/.run"
}
S_=(--steps "$STEPS" --warmup "$WARMUP")
BASE=carat,rsm-ual,amanda,conformer,maet,emotiondict,sa-cpnn
run helo_eager_fp32 60 --ks "1,$BIG_K" --no-sequential "${S_[@]}" --methods ""
run helo_graph_fp32 45 --ks "$BIG_K" --no-sequential "${S_[@]}" --compile "$COMPILE" --methods ""
run helo_graph_tf32 40 --ks "$BIG_K" --no-sequential "${S_[@]}" --compile "$COMPILE" --precision tf32 \
  --methods ""
run helo_graph_bf16 40 --ks "$BIG_K" --no-sequential "${S_[@]}" --compile "$COMPILE" --precision bf16 \
  --methods ""
run baselines_eager_k1 40 --methods-only --method-k 1 --no-sequential "${S_[@]}" --methods "$BASE"
run baselines_eager 60 --methods-only --method-k "$BIG_K" --no-sequential "${S_[@]}" \
  --methods "$BASE"
run baselines_graph_tf32 70 --methods-only --method-k "$BIG_K" --no-sequential "${S_[@]}" \
  --compile "$COMPILE" --precision tf32 --methods "$BASE"
if [ "$KERNELS" = yes ]; then
  timeout 30 "$py" benchmarks/bench_train.py --device "$DEVICE" --count-kernels \
    > "$OUT/kernels.txt" 2>&1 || true
fi
echo "== projection" >> "$S"
timeout 15 "$py" benchmarks/gpu_projection.py "$J" --k "$BIG_K" 2>&1 | tee -a "$S"
echo "done; see $S"
