#!/usr/bin/env bash
# Set up helo in ./.venv with exactly the locked dependencies (requirements/lock.txt, with hashes).
# Python >= 3.10, no GPU needed. Idempotent: re-running is cheap and brings the venv back to the lock.
#   HELO_TORCH  torch requirement installed beside the lock (default: the CPU build torch==2.13.0;
#               on a GPU machine preinstall the CUDA build, or set e.g. HELO_TORCH="torch==2.13.0
#               --index-url https://download.pytorch.org/whl/cu128")
#   HELO_PYTHON interpreter used to create the venv (default: python3)
#   HELO_VENV   where the venv lives (default: .venv)
#   HELO_DEPS   lock (default): install requirements/lock.txt exactly;
#               latest: ignore the lock and take the newest releases pyproject.toml allows
#               (what .ci/latest runs, to see upstream breakage early)
# Refresh the lock itself with scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
export PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${HELO_PYTHON:-python3}
PIP_VERSION=26.3
VENV=${HELO_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install --quiet "pip==$PIP_VERSION"
install_torch() {
  if ! python -c "import torch" 2>/dev/null; then
    # torch's own pure-Python dependencies are in the lock already, so with the lock this adds
    # torch alone (plus the CUDA wheels when a CUDA build is asked for)
    # shellcheck disable=SC2086
    python -m pip install --quiet ${HELO_TORCH:-torch==2.13.0}
  fi
}
case "${HELO_DEPS:-lock}" in
  lock)
    # exactly the locked set: every file checked against its hash, no resolution, nothing else
    python -m pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
    install_torch
    # helo itself, editable; setuptools comes from the lock, so nothing unlocked is fetched
    python -m pip install --quiet --no-deps --no-build-isolation -e .
    ;;
  latest)
    install_torch   # first, and held where it is: the newest torch on PyPI is a CUDA build
    held=$(mktemp)
    python -c "import torch; print('torch==' + torch.__version__)" > "$held"
    python -m pip install --quiet --upgrade --upgrade-strategy eager -c "$held" -e '.[dev]'
    rm -f "$held"
    ;;
  *) echo "HELO_DEPS must be 'lock' or 'latest', not '${HELO_DEPS}'" >&2; exit 2 ;;
esac
python -m pip check
python -c "import helo, torch; print('helo', helo.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"
