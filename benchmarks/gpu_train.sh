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
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD DO_NOT_TRACK=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
S="$OUT/summary.txt" J="$OUT/results.jsonl" L="$OUT/log.txt"
if ! { nvidia-smi; "$py" -c "import numpy, torch; print('torch', torch.__version__, 'cuda',
torch.version.cuda, torch.cuda.get_device_name(0), 'numpy', numpy.__version__)"; } \
    > "$OUT/env.txt" 2>&1; then
  echo "needs python3 with a CUDA build of torch and numpy (see $OUT/env.txt)" | tee -a "$S"
  exit 1
fi
tail -1 "$OUT/env.txt" | tee -a "$S"
run() {  # name, timeout_s, bench_train arguments...
  local name=$1 t=$2; shift 2
  echo "== $name ($*)" | tee -a "$S" >> "$L"
  timeout "$t" "$py" benchmarks/bench_train.py --device cuda --jsonl "$J" --tag "$name" "$@" \
    > "$OUT/.run" 2>&1
  echo "   rc=$?" >> "$S"
  cat "$OUT/.run" >> "$L"
  grep -E "^K=|speed-up|^projected|^stacked" "$OUT/.run" | sed 's/^/   /' >> "$S"
  rm -f "$OUT/.run"
}
run helo_eager_fp32 60 --ks 1,73 --no-sequential --steps 20 --warmup 5
run helo_graph_fp32 45 --ks 73 --no-sequential --steps 20 --warmup 5 --compile yes
run helo_graph_tf32 40 --ks 73 --no-sequential --steps 20 --warmup 5 --compile yes \
  --precision tf32
run helo_graph_bf16 40 --ks 73 --no-sequential --steps 20 --warmup 5 --compile yes \
  --precision bf16
run baselines_eager 90 --ks 1,73 --no-sequential --steps 10 --warmup 3 --methods-only \
  --methods carat,rsm-ual,amanda,conformer,maet,emotiondict
run baselines_graph_tf32 70 --ks 73 --no-sequential --steps 10 --warmup 4 --methods-only \
  --compile yes --precision tf32 --methods carat,rsm-ual,amanda,conformer,maet,emotiondict
timeout 30 "$py" benchmarks/bench_train.py --device cuda --count-kernels \
  > "$OUT/kernels.txt" 2>&1 || true
echo "== projection" >> "$S"
timeout 15 "$py" benchmarks/gpu_projection.py "$J" 2>&1 | tee -a "$S"
echo "done; see $S"
