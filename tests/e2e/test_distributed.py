"""Feature extraction on a real dask.distributed LocalCluster (2 worker processes) gives the
same outputs as the local run; a run killed mid-extraction resumes with only the missing
subjects."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from e2e_util import env

from helo.data.store import done
from helo.orchestration.executors import executor
from helo.stages.extract import run_extract
from helo.synth import generate

pytestmark = pytest.mark.e2e

FP = {"step_s": 1.0, "longest_window_s": 5.0, "window_s": 1.0, "face_size": 32,
      "detect_every": 10}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    generate("dmer-raw", root, seed=3, preset="tiny", progress=False)
    return root


def test_dask_localcluster_matches_local(tiny, tmp_path):
    for m in ("eeg", "gsr", "video"):
        fp = dict(FP, window_s=5.0) if m == "gsr" else FP
        local = run_extract("dmer-raw", tiny, tmp_path / "local", m, fp, progress=False)
        assert len(local["done"]) == 3 and not local["failed"]
    with executor("dask", workers=2) as ex:
        from distributed import get_client
        assert len(get_client().scheduler_info()["workers"]) == 2
        for m in ("eeg", "gsr", "video"):
            fp = dict(FP, window_s=5.0) if m == "gsr" else FP
            res = run_extract("dmer-raw", tiny, tmp_path / "dask", m, fp, executor=ex,
                              progress=False)
            assert len(res["done"]) == 3
    for m in ("eeg", "gsr", "video"):
        for sid in ("1", "2", "5"):
            a = pd.read_parquet(tmp_path / "local" / m / f"{sid}.parquet")
            b = pd.read_parquet(tmp_path / "dask" / m / f"{sid}.parquet")
            pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_killed_extraction_resumes_with_missing_subjects_only(tmp_path):
    root = tmp_path / "data"
    generate("dmer-raw", root, seed=1, preset="tiny", n_subjects=6, progress=False)
    params = {"data": {"layout": "dmer-raw", "root": str(root)},
              "features": {"common": {"step_s": 1.0, "longest_window_s": 5.0},
                           "video": {"window_s": 1.0, "face_size": 64, "detect_every": 1}},
              "orchestrator": {"engine": "local", "task_runner": "serial", "workers": 1}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    store = tmp_path / "data/features"
    proc = subprocess.Popen([sys.executable, "-m", "helo", "extract", "--modality", "video"],
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 120 and not list((store / "video").glob("[!.]*.parquet")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = sorted(p.stem for p in (store / "video").glob("[!.]*.parquet"))
    assert 1 <= len(first) < 6, first
    # nothing half-written is taken for a finished file
    for tmp in (store / "video").glob(".tmp-*"):
        assert not done(store, "video", tmp.name)
    out = subprocess.run([sys.executable, "-m", "helo", "extract", "--modality", "video"],
                         cwd=tmp_path, env=env(), capture_output=True, text=True, check=True)
    summary = yaml.safe_load((store / "video" / "_summary.json").read_text())
    assert sorted(s["subject"] for s in summary["skipped"]) == first
    assert len(summary["done"]) == 6 - len(first) and not summary["failed"], out.stdout
    assert len(list((store / "video").glob("[!.]*.parquet"))) == 6
