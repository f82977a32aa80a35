"""Issue 21, "a stage owns its outputs for its whole run": a killed run never leaves its results
behind as a newer run's, a second writer waits or fails naming the holder, and no process of a
killed stage is left (helo/stages/ownership.py, helo/orchestration/lifetime.py)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helo.cli import main
from helo.io import write_text
from helo.stages import ownership as O
from helo.stages import params as P

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="process checks read /proc")


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _env(**extra) -> dict:
    env = {**os.environ, "HELO_WARM": "0", "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    env.pop(O.RUN_ENV, None)
    return {**env, **extra}


@pytest.fixture(scope="module")
def assembled(tmp_path_factory) -> Path:
    """A generic-table project (3 subjects) extracted and assembled once; tests copy it."""
    proj = tmp_path_factory.mktemp("own") / "proj"
    (proj / "gen").mkdir(parents=True)
    params = P.load(ROOT / "params.yaml")
    params["data"].update(layout="generic", root="gen", items=["Happy", "Sad", "Calm"])
    params["features"]["modalities"] = ["gsr", "ppg"]
    params["assemble"].update(physiological=["gsr"], behavioural=["ppg"])
    params["model"]["helo"]["query"] = "gsr"
    params["orchestrator"].update(task_runner="processes", workers=2, warm=False)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rng = np.random.default_rng(0)
    rows = []
    for s in ("s1", "s2", "s3"):
        for t in ("a", "b"):
            lab = rng.uniform(1, 5, 3)
            rows += [{"subject": s, "trial": t, "window": w, "gsr__f1": rng.normal(),
                      "gsr__f2": rng.normal(), "ppg__f1": rng.normal(), "label__Happy": lab[0],
                      "label__Sad": lab[1], "label__Calm": lab[2]} for w in range(4)]
    pd.DataFrame(rows).to_csv(proj / "gen" / "features.csv", index=False)
    with _cwd(proj):
        for m in ("gsr", "ppg", "labels"):
            assert main(["extract", "--modality", m, "-S", "orchestrator.task_runner=serial"]) == 0
        assert main(["assemble"]) == 0
    return proj


@pytest.fixture
def project(assembled, tmp_path, monkeypatch) -> Path:
    import shutil
    proj = tmp_path / "proj"
    shutil.copytree(assembled, proj, ignore=shutil.ignore_patterns(".helo"))
    monkeypatch.chdir(proj)
    monkeypatch.delenv(O.RUN_ENV, raising=False)
    return proj


# ------------------------------------------------------------------------- /proc helpers

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (d / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _wait_for(cond, timeout: float, what: str):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, what
        time.sleep(0.1)


# ---------------------------------------------------------- 1: the planted kill sequences

#: the stage as DVC runs it (`/bin/sh -c <cmd>`: dash stays in between), under a stand-in for
#: `dvc repro` in its own session, so the test can also hang up its whole process group as a
#: closed terminal does
CALLER = ("import shlex, subprocess, sys; sys.exit(subprocess.call(['/bin/sh', '-c', "
          "shlex.join([sys.executable, '-m', 'helo'] + sys.argv[1:])]))")
EVALUATE = ["evaluate", "--protocol", "loso", "--method", "tlrldl",
            "-S", "model.tlrldl.max_iterations=2"]


@pytest.mark.parametrize("how", ["kill -9 the caller", "hang up the group"])
def test_killed_run_never_overwrites_the_newer_run(project, how):
    """The issue's sequence: a long evaluate (3000 seeds a fold, on a pool of 2 workers) is cut
    off, a short one (1 seed) runs at once; the outputs are the short run's, and no process of
    the long one is left."""
    out = project / "outputs/eval/loso/tlrldl"
    old: list[int] = []
    caller = subprocess.Popen([sys.executable, "-c", CALLER, *EVALUATE, "-S",
                               "evaluate.seeds=3000"], env=_env(), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def stage():
            helo = [p for p in _descendants(caller.pid)
                    if _cmdline(p).startswith(f"{sys.executable} -m helo evaluate")]
            return helo[0] if helo else None

        _wait_for(lambda: stage() and len(_descendants(stage())) >= 2, 60,
                  "the long run never started its pool")
        _wait_for(lambda: list(out.parent.glob(".tlrldl.helo-run-*")), 60,
                  "the long run never staged its outputs")
        old = _descendants(caller.pid)
        assert len(old) >= 4  # the shell, the stage, its 2 workers (and their tracker)
        if how == "kill -9 the caller":
            caller.kill()
        else:
            os.killpg(caller.pid, signal.SIGHUP)
        # the new run waits for the cut-off run's processes to end (HELO_OUTPUT_WAIT): on a
        # loaded machine their teardown takes longer than the default 30 s
        new = subprocess.run([sys.executable, "-m", "helo", *EVALUATE],
                             env=_env(HELO_OUTPUT_WAIT="120"), capture_output=True, text=True,
                             timeout=300)
        assert new.returncode == 0, new.stderr
        printed = json.loads(new.stdout)
        _wait_for(lambda: not any(_running(p) for p in old), 15,
                  f"processes of the killed run left: {[p for p in old if _running(p)]}")
        time.sleep(1.0)  # had anything of the old run survived, it would write about now
        final = json.loads((out / "metrics.json").read_text())
        assert final["n_seeds"] == 1 and final["seeds"] == [0]
        assert final["kl"] == printed["kl"]
        assert len(pd.read_csv(out / "folds.csv")) == 3  # 3 folds x 1 seed, not x 3000
        assert not list(out.parent.glob(".tlrldl.helo-run-*"))  # no staging folder left
    finally:
        for pid in [caller.pid, *old]:  # a failed test leaves nothing running either
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        caller.wait(timeout=30)


# ------------------------------------------------------------- 2: a second writer

def test_second_writer_fails_naming_the_holder(project):
    target = [O.Output(Path("outputs/eval/loso/mean"))]
    with O.owned(target, ["evaluate", "--protocol", "loso", "--method", "mean"]):
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "helo", "evaluate", "--protocol", "loso",
                              "--method", "mean"], env=_env(**{O.WAIT_ENV: "1"}),
                             capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
    assert res.returncode == 1
    line = res.stderr.strip().splitlines()[-1]
    assert re.search(rf"outputs/eval/loso/mean is being written by another run: pid {os.getpid()}"
                     r" \(helo evaluate --protocol loso --method mean\), started \d{4}-\d\d-\d\d "
                     r"\d\d:\d\d:\d\d", line), line
    assert "waited 1 s" in line
    assert took >= 1.0
    assert not (project / "outputs/eval/loso/mean").exists()


def test_second_writer_waits_for_the_holder(project):
    target = [O.Output(Path("data/assembled"))]
    got = {}

    def second():
        t0 = time.monotonic()
        with O.owned(target, ["assemble"], wait_s=20) as run:
            got["waited"] = time.monotonic() - t0
            got["token"] = run.token

    with O.owned(target, ["assemble"]) as first:
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.6)
        assert "waited" not in got  # still waiting
    t.join(20)
    assert 0.5 <= got["waited"] < 10
    assert got["token"] != first.token


# ------------------------------------------------------- staging, currency, the write guard

def test_outputs_appear_only_when_the_run_commits(project):
    out = Path("outputs/report")
    write_text(out / "old.md", "old\n")
    with O.owned([O.Output(out), O.Output(Path("outputs/metrics.json"))], ["report"]) as run:
        staged = O.place(out)
        assert staged.parent.name.startswith(".report.helo-run-") and staged.name == "report"
        write_text(staged / "comparison.md", "new\n")
        write_text(O.place(Path("outputs/metrics.json")), "{}\n")
        assert sorted(p.name for p in out.iterdir()) == ["old.md"]  # nothing visible yet
        assert not Path("outputs/metrics.json").exists()
        with pytest.raises(RuntimeError, match="through helo.stages.ownership.place"):
            write_text(out / "direct.md", "x\n")  # a stage that forgets place() is caught
        run.commit()
    assert sorted(p.name for p in out.iterdir()) == ["comparison.md"]  # whole: old.md gone
    assert Path("outputs/metrics.json").read_text() == "{}\n"
    assert not list(Path("outputs").glob(".*helo-run-*"))


def test_failed_run_leaves_the_outputs_as_they_were(project):
    out = Path("outputs/eval/loso/mean")
    write_text(out / "metrics.json", "old\n")
    with pytest.raises(ValueError):
        with O.owned([O.Output(out)], ["evaluate"]):
            write_text(O.place(out) / "metrics.json", "half\n")
            raise ValueError("the stage failed")
    assert (out / "metrics.json").read_text() == "old\n"
    assert not list(out.parent.glob(".mean.helo-run-*"))


def test_superseded_run_cannot_commit_and_its_staging_is_removed(project):
    out = Path("outputs/eval/loso/mean")
    write_text(out / "metrics.json", "newer\n")
    with O.owned([O.Output(out)], ["evaluate"]) as run:
        write_text(O.place(out) / "metrics.json", "stale\n")
        info = O._info_file(run.runs, out)  # a newer run took the output over
        info.write_text(json.dumps({**json.loads(info.read_text()), "token": "newer"}))
        with pytest.raises(O.RunSuperseded, match="no longer the current one"):
            run.commit()
    assert (out / "metrics.json").read_text() == "newer\n"
    assert not list(out.parent.glob(".mean.helo-run-*"))


def test_adopted_run_whose_owner_ended_writes_nothing(project):
    """A warm child (or any process handed a run) outliving the command that owns the run."""
    store = Path("data/features/gsr")
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    gone = subprocess.Popen(["true"])
    gone.wait()
    run = O.Run(token="t", owner=gone.pid, owner_start=None,
                outputs=[O.Output(store, incremental=True)], runs=O._runs_dir())
    O._info_file(run.runs, store).write_text(json.dumps({"token": "t", "pid": gone.pid}))
    os.environ[O.RUN_ENV] = run.env_value()
    try:
        assert O._adopt(os.environ[O.RUN_ENV], [O.Output(store, incremental=True)]) is None
        with pytest.raises(O.RunSuperseded, match=rf"pid {gone.pid}\) has ended"):
            write_text(store / "s1.parquet", "stale")  # a pool worker's write: refused
    finally:
        del os.environ[O.RUN_ENV]
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before
    # a whole output: the staged folder is not moved into place
    out = Path("outputs/eval/loso/mean")
    write_text(out / "metrics.json", "newer\n")
    run = O.Run(token="t", owner=gone.pid, owner_start=None, outputs=[O.Output(out)],
                runs=O._runs_dir())
    O._info_file(run.runs, out).write_text(json.dumps({"token": "t", "pid": gone.pid}))
    write_text(run.place(out) / "metrics.json", "stale\n")
    with pytest.raises(O.RunSuperseded, match="has ended"):
        run.commit()
    assert (out / "metrics.json").read_text() == "newer\n"


def test_incremental_extract_keeps_what_earlier_runs_wrote(project, capsys):
    """The feature store is written in place: a re-run skips the subjects already there."""
    argv = ["extract", "--modality", "gsr", "-S", "orchestrator.task_runner=serial"]
    assert main(argv) == 0  # (the copy has another data root: recomputed)
    before = {p.name: p.stat().st_ino for p in Path("data/features/gsr").iterdir()}
    capsys.readouterr()
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p.name: p.stat().st_ino for p in Path("data/features/gsr").iterdir()
            if p.suffix == ".parquet"} == {k: v for k, v in before.items() if k.endswith("quet")}
    summary = json.loads(Path("data/features/gsr/_summary.json").read_text())
    assert [s["subject"] for s in summary["skipped"]] == ["s1", "s2", "s3"]
    assert out["n_subjects"] == 3


# ------------------------------------------------------------- what each command owns

def _dvc_stages() -> dict[str, tuple[str, list[str]]]:
    """dvc.yaml's stages expanded with params.yaml: name -> (cmd, outs and metrics)."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    got = {}
    for name, st in dvc["stages"].items():
        if "foreach" in st:
            items = [{"item": m} for m in params["features"]["modalities"]]
            st = st["do"]
        elif "matrix" in st:
            items = [{"item.protocol": p, "item.method": m}
                     for p in params["evaluate"]["protocols"]
                     for m in params["evaluate"]["methods"]]
        else:
            items = [{}]
        for it in items:
            def sub(text, it=it):
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(it[m.group(1)]), text)
            paths = [next(iter(o)) if isinstance(o, dict) else o
                     for o in st.get("outs", []) + st.get("metrics", [])]
            got[f"{name}{sorted(it.values())}"] = (sub(st["cmd"]), [sub(p) for p in paths])
    return got


def test_every_stage_command_owns_exactly_its_dvc_outputs():
    stages = _dvc_stages()
    assert len(stages) > 10
    for name, (cmd, outs) in stages.items():
        words = cmd.split()
        assert words[0] == "helo", name
        owned = O.command_outputs(words[1:])
        assert sorted(str(o.path) for o in owned) == sorted(outs), name
        assert all(o.incremental == (words[1] in ("extract", "code-deps")) for o in owned)
    assert O.command_outputs(["info"]) == O.command_outputs(["code-deps", "--check"]) == []
    assert O.command_outputs(["extract", "--modality", "../x"]) == []


# ------------------------------------------------------------- 3: pool workers die

WORKERS = """
import os, sys, time
from helo.orchestration.executors import executor
from helo.orchestration.lifetime import end_with_caller
end_with_caller()
with executor("processes", 2) as ex:
    futs = [ex.submit(time.sleep, 600) for _ in range(2)]
    while len(ex._processes) < 2:
        time.sleep(0.05)
    print(" ".join(str(p) for p in ex._processes), flush=True)
    futs[0].result()
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_pool_workers_die_with_the_stage_process(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", WORKERS], env=_env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(p) for p in workers)
        time.sleep(0.5)  # the workers are running their calls
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == (-9 if sig == signal.SIGKILL else 1)
        _wait_for(lambda: not any(_running(p) for p in workers), 10,
                  f"workers left after {sig.name}")
    finally:
        for pid in [proc.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
