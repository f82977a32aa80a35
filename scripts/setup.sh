#!/usr/bin/env bash
# Set up helo in ./.venv: Python >= 3.10, no GPU needed. Idempotent: re-running is cheap.
#   HELO_TORCH  torch requirement to install first (default: the CPU build torch==2.13.0;
#               on a GPU machine set HELO_TORCH=torch to get the CUDA build, or preinstall it)
#   HELO_PYTHON interpreter used to create the venv (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
PY=${HELO_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install --quiet "${HELO_TORCH:-torch==2.13.0}"
fi
python -m pip install --quiet -e '.[dev]'
python -c "import helo, torch; print('helo', helo.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"
