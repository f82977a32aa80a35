"""Same bytes whatever the CPU offers: the pinned kernel level holds in every process.

The pipeline's processes (the ``helo`` commands, their spawn pool workers) run once as pinned
and once in an environment that tells every library to use fewer vector extensions than this
machine has (NumPy's ``NPY_DISABLE_CPU_FEATURES`` with every target above its baseline, PyTorch's
``ATEN_CPU_CAPABILITY=default``, MKL's ``COMPATIBLE`` path, OpenBLAS's ``Nehalem`` kernels,
OpenCV without AVX): an emulated older CPU. The pin must win in every process, so the bytes of
the synthetic data of every layout, the EEG and GSR features, the assembled windows and a short
HeLo and aa-kNN evaluation are identical. HeLo's evaluation once more with the pin switched off
(``HELO_CPU_KERNELS=native``) in the same emulated environment must give other bytes, or the
comparison would prove nothing: it shows these outputs do depend on the kernels. (On an AVX2
machine switching AVX2 off leaves NumPy's results here as they were; PyTorch's and MKL's
kernels are what move.)

On an AVX-512 machine the pinned run also drops AVX-512, which ``tests/unit/test_synth_guard.py``
and the committed ``dvc.lock`` check against bytes made on an AVX2 machine.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_util import ROOT, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LAYOUTS = ("dmer-aligned", "dmer-features", "wesad", "bids")
TINY = ["-S", "features.modalities=[eeg,gsr]", "-S", "assemble.physiological=[eeg,gsr]",
        "-S", "assemble.behavioural=[]", "-S", "evaluate.protocols=[loso]"]
# bookkeeping that records wall-clock times, PIDs or absolute paths, not results: timings, the
# output locks of the runs, the feature store's records of what produced each file
VOLATILE = ("outputs/timings/", ".helo/", "data/features/.records/")


def _older_cpu_environment() -> dict[str, str]:
    """Variables that make every library use less than this machine offers."""
    probe = subprocess.run(
        [sys.executable, "-c",
         "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f;"
         "print(' '.join(x for x in d if f[x]))"],
        capture_output=True, text=True, check=True, env=dict(os.environ, HELO_CPU_KERNELS="native"))
    return {"NPY_DISABLE_CPU_FEATURES": probe.stdout.strip(), "ATEN_CPU_CAPABILITY": "default",
            "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41",
            "OPENBLAS_CORETYPE": "Nehalem", "OPENCV_CPU_DISABLE": "AVX,AVX2,FMA3,FP16"}


def _project(dst: Path) -> Path:
    dst.mkdir(parents=True)
    shutil.copy2(ROOT / "params.yaml", dst / "params.yaml")
    run([sys.executable, "-m", "helo", "preset", "tiny"], dst)
    return dst


def _digests(dst: Path, under: str = "") -> dict[str, str]:
    """SHA-256 of every result file below ``dst / under``, by path relative to ``dst``."""
    digests = {}
    for p in sorted((dst / under).rglob("*")):
        rel = p.relative_to(dst).as_posix()
        if p.is_file() and rel != "params.yaml" and not rel.startswith(VOLATILE):
            digests[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return digests


HELO = [sys.executable, "-m", "helo"]
EVAL_HELO = ["evaluate", "--protocol", "loso", "--method", "helo"]


def _pipeline(dst: Path, **env) -> dict[str, str]:
    """Run the steps as their ``helo`` commands in ``dst``; the digests of what they wrote."""
    env = {"HELO_WARM": "0", **env}
    for layout in LAYOUTS:
        run(HELO + ["synth", "--layout", layout, "--out", f"synth/{layout}", "--preset", "tiny",
                    "--seed", "0"], dst, **env)
    run(HELO + ["synth", "--from-params"], dst, **env)
    for modality in ("eeg", "gsr", "labels"):
        run(HELO + ["extract", "--modality", modality] + TINY, dst, **env)
    run(HELO + ["assemble"] + TINY, dst, **env)
    # HeLo's folds in a pool of spawn workers; aa-kNN's in this process
    run(HELO + EVAL_HELO + TINY, dst, **env)
    run(HELO + ["evaluate", "--protocol", "loso", "--method", "aa-knn"] + TINY, dst, **env)
    return _digests(dst)


def test_pinned_results_do_not_depend_on_the_cpu_extensions(tmp_path):
    older = _older_cpu_environment()
    pinned = _pipeline(_project(tmp_path / "pinned"))
    emulated = _pipeline(_project(tmp_path / "emulated"), **older)
    assert any(k.startswith("outputs/eval/loso/helo/") for k in pinned)
    assert any(k.startswith("synth/bids/") for k in pinned)
    changed = sorted(k for k in pinned.keys() | emulated.keys()
                     if pinned.get(k) != emulated.get(k))
    assert not changed, ("with the CPU's extensions switched off in the environment, the pinned "
                         f"pipeline wrote other bytes in {len(changed)} file(s): {changed[:12]}")

    # the control: unpinned, the same emulated CPU trains HeLo to other bytes
    native = tmp_path / "native"
    shutil.copytree(tmp_path / "pinned", native)
    shutil.rmtree(native / "outputs" / "eval")
    run(HELO + EVAL_HELO + TINY, native, HELO_WARM="0", HELO_CPU_KERNELS="native", **older)
    differ = [k for k, v in _digests(native, "outputs/eval").items() if pinned.get(k) != v]
    assert differ, ("unpinned, the emulated older CPU trained HeLo to the same bytes: the "
                    "comparison above would not notice a missing pin")
