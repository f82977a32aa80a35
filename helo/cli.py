"""The ``helo`` command: every pipeline step, data checks, prediction and orchestration.

Run ``helo <command> --help`` for each command's options. The DVC stages in ``dvc.yaml`` call
these same commands with the parameters in ``params.yaml``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

EPILOG = """\
typical use:
  dvc repro                          run the whole pipeline (synthetic DMER by default)
  helo check-data /data/WESAD --layout wesad
  helo preset synth-wesad && dvc repro
  helo ablate queue --set components && dvc queue start && helo ablate summary
  helo tune --method ldl-lrr --protocol loso   then: dvc repro (re-runs evaluate@loso-ldl-lrr)
  helo tune --all                    every method under every protocol, resumable
  helo prefect up                    start a local Prefect server and serve helo/full
  helo predict --input /data/new --layout dmer-raw --out preds/
  helo inspect-video session1.mp4 --out faces/    check the face crops of a video first
"""


def _params(args):
    """The run's typed parameters (:class:`helo.stages.schema.Params`): ``--params`` with the
    ``-S`` overrides and ``--allow-partial`` applied, validated before any stage does work
    (:func:`helo.stages.params.load_config`)."""
    from helo.stages.params import load_config
    return load_config(args.params, getattr(args, "set", None) or (),
                       allow_partial=getattr(args, "allow_partial", False))


def _print(obj):
    print(json.dumps(obj, indent=2, default=str))


# -- commands --------------------------------------------------------------------------------

def synth_layouts() -> list[str]:
    """The layouts the synthetic generator writes (:data:`helo.synth.GENERATORS`)."""
    from helo.synth import GENERATORS
    return list(GENERATORS)


def cmd_synth(args):
    if args.from_params:
        from helo.orchestration.run import run_stage
        _print(_summary(run_stage("synthesize", _params(args))))
        return 0
    from helo.synth import generate
    if not args.out:
        raise SystemExit("helo synth: --out DIR is required (or --from-params)")
    truth = generate(args.layout, Path(args.out), seed=args.seed, preset=args.preset)
    _print(_summary(truth))
    return 0


def _task_option(args) -> dict:
    """``--task`` as reader options (BIDS only)."""
    if getattr(args, "task", None) is None:
        return {}
    if args.layout != "bids":
        raise SystemExit(f"helo {args.command}: --task selects a BIDS task; layout "
                         f"{args.layout!r} has no tasks")
    return {"task": args.task}


def _summary(truth):
    if not isinstance(truth, dict):
        return truth
    return {k: v for k, v in truth.items() if not isinstance(v, (list, dict))} or {
        "subjects": len(truth.get("subjects", []))}


def _check_params(args):
    """check-data's typed parameters: ``--params`` (the schema's defaults when the default
    ``params.yaml`` is absent: check-data runs outside a project too) with the ``-S``
    overrides, then ``data.layout`` / ``data.root`` / ``data.task`` from the command line,
    validated as a stage validates them. Its reader options are then those of
    :func:`helo.stages.common.reader_options`, the function extraction calls, so check-data
    accepts exactly what extraction reads."""
    from helo.stages.params import load, parse_override, set_dotted
    from helo.stages.schema import validate
    path = Path(args.params)
    if path.exists():
        raw = load(path)
    elif args.params == "params.yaml":
        raw = {}
    else:
        raise FileNotFoundError(f"{args.params} not found")
    for text in args.set or ():
        set_dotted(raw, *parse_override(text))
    set_dotted(raw, "data.layout", args.layout)
    set_dotted(raw, "data.root", str(args.root))
    if args.task is not None:
        set_dotted(raw, "data.task", args.task)
    return validate(raw, source=str(path) if path.exists() else "the default parameters")


def cmd_check_data(args):
    from helo.data import no_subjects_message, open_reader
    from helo.data.base import DataError
    from helo.stages.common import reader_options
    _task_option(args)  # --task with a layout that has no tasks: refused first
    options = reader_options(_check_params(args))
    try:
        reader = open_reader(args.layout, args.root, **options)
        problems = reader.check()
        subjects = reader.subjects()
    except DataError as err:
        print(f"ERROR: {err}")
        return 1
    except (MemoryError, RecursionError, OSError) as err:  # a hostile or broken file
        print(f"ERROR: {args.root}: the data exhausted a resource while being checked "
              f"({type(err).__name__}: {err}); a file is corrupted or malicious")
        return 1
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        print(p)
    if not subjects:
        print(f"ERROR: {no_subjects_message(args.layout, args.root)}")
        errors.append(None)
    print(f"{len(subjects)} subject(s) under {args.root} ({args.layout}): "
          f"{len(errors)} error(s), {len(problems) - len([e for e in errors if e])} warning(s)")
    return 1 if errors else 0


def _check_table_modality(modality: str, cfg) -> None:
    """A generic table's own modality must be one the table has (else every subject fails)."""
    from helo.features import MODALITIES
    if cfg.data.layout != "generic" or modality in (*MODALITIES, "labels"):
        return
    from helo.data import open_reader
    from helo.stages.schema import ParamsError
    root = cfg.data.root
    have = open_reader("generic", root).modalities()
    if modality not in have:
        raise ParamsError([f"--modality: the generic table in {root} has no modality "
                           f"{modality!r}; it has: {', '.join(have)}"], "helo extract")


def cmd_extract(args):
    from helo.orchestration.run import run_stage
    from helo.stages.schema import check_modality
    cfg = _params(args)
    check_modality(args.modality, cfg)
    _check_table_modality(args.modality, cfg)
    summary = run_stage("extract", cfg, params_path=args.params,
                        modality=args.modality, force=args.force)
    _print(_summary(summary))
    return 0  # failed subjects raise StageIncomplete (exit 1) unless --allow-partial


def _whole_stage(stage: str):
    """The command of a stage that takes no options of its own: run it, print its summary."""
    def cmd(args):
        from helo.orchestration.run import run_stage
        _print(run_stage(stage, _params(args)))
        return 0
    return cmd


cmd_feature_params = _whole_stage("feature-params")
cmd_method_params = _whole_stage("method-params")
cmd_assemble = _whole_stage("assemble")
cmd_report = _whole_stage("report")
cmd_fit_final = _whole_stage("fit-final")


def cmd_evaluate(args):
    from helo.orchestration.run import run_stage
    res = run_stage("evaluate", _params(args), params_path=args.params,
                    protocol=args.protocol, method=args.method)
    _print({k: v for k, v in res.items() if k != "std"})
    return 0


def cmd_predict(args):
    from helo.stages.predict import predict_recordings
    cfg = _params(args)
    options = _task_option(args)
    if args.layout == "bids":  # the events settings of params.yaml / -S (data.events)
        from helo.stages.common import reader_options
        options = {**{k: v for k, v in reader_options(cfg).items() if k != "task"}, **options}
    out = predict_recordings(Path(args.model), args.layout, Path(args.input), Path(args.out),
                             cfg, subjects=args.subject, reader_options=options)
    _print(out)
    return 0


def cmd_inspect_video(args):
    from helo.features.face import inspect_video
    video = {}
    if Path(args.params).exists():
        video = _params(args).features.for_modality("video")
    elif args.params != "params.yaml" or args.set:
        raise FileNotFoundError(f"{args.params} not found")
    for key, value in (("detector", args.detector), ("detect_width", args.detect_width),
                       ("min_face", args.min_face), ("detect_every", args.detect_every),
                       ("face_size", args.face_size)):
        if value is not None:
            video[key] = value
    if video.get("detect_width") == 0:
        video["detect_width"] = None
    _print(inspect_video(args.video, args.out, video, n_crops=args.crops, cols=args.cols,
                         fps=args.fps))
    return 0


def cmd_preset(args):
    from helo.stages.params import apply_preset, load_config, presets
    if args.list or not args.name:
        for name, path in presets().items():
            first = path.read_text().splitlines()[0].lstrip("# ")
            print(f"{name:16s} {first}")
        return 0
    apply_preset(args.name, args.params)
    load_config(args.params)  # the result must fit the schema
    print(f"applied preset {args.name} to {args.params}; now run: dvc repro")
    return 0


def cmd_ablate(args):
    from helo.stages import ablation
    if args.action == "list":
        for name, sets in ablation.ABLATIONS.items():
            print(f"{name}: {len(sets)} experiment(s)")
            for s in sets:
                print("   ", " ".join(f"-S {k}={ablation._fmt(v)}" for k, v in s.items()))
        return 0
    if args.action in ("queue", "run"):
        n = ablation.queue(args.set, run=(args.action == "run"), jobs=args.jobs)
        print(f"{'ran' if args.action == 'run' else 'queued'} {n} experiment(s)"
              + ("" if args.action == "run" else "; start them with: dvc queue start"))
        return 0
    _print(ablation.summary(Path(args.out)))
    return 0


def cmd_tune(args):
    from helo.stages import tune
    if args.all:
        _print(tune.run_all(_params(args), protocols=args.protocol and [args.protocol],
                            methods=args.method and [args.method], trials=args.trials,
                            timeout=args.timeout, dry_run=args.dry_run, force=args.force,
                            params_path=args.params))
        return 0
    if not args.method or not args.protocol:
        raise SystemExit("helo tune: give --method and --protocol, or --all (every method of "
                         "evaluate.methods under every protocol of evaluate.protocols)")
    _print(tune.run(_params(args), args.method, args.protocol, trials=args.trials,
                    timeout=args.timeout, dry_run=args.dry_run, params_path=args.params))
    return 0


def cmd_prefect(args):
    from helo.orchestration import server as srv
    if args.action == "server":
        return srv.start_server(background=args.background)
    if args.action == "serve":
        from helo.orchestration.full import serve
        serve(args.name, run_argv=main)
        return 0
    if args.action == "up":
        return srv.up(args.name, run_argv=main)
    if args.action == "stop":
        return srv.stop_server()
    raise SystemExit(f"unknown action {args.action}")


def cmd_warm(args):
    from helo.orchestration import warm
    sock = Path(args.socket)
    if args.action == "serve":  # the bootstrap: a fresh interpreter snapshots helo, then imports
        cmd = warm.server_command(sock, idle_s=args.idle)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(cmd[0], cmd)
    if args.action == "stop":
        warm.stop(sock)
    print(f"warm server: {warm.status(sock)}")
    return 0


def cmd_code_deps(args):
    from helo.orchestration import codedeps
    out = Path(args.out)
    mods = codedeps.params_modalities(args.params)
    if args.check:
        bad = codedeps.stale(out, mods)
        if bad:
            print(f"helo code-deps: {len(bad)} stale digest(s) in {out}/: {', '.join(bad)}; "
                  "run `helo code-deps` (the code-deps stage of dvc repro does)", file=sys.stderr)
            return 1
        print(f"{out}/: every digest matches the code")
        return 0
    _print(codedeps.write(out, mods))
    return 0


def cmd_info(args):
    import torch

    from helo import __version__
    from helo.data import LAYOUTS
    _print({"helo": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "layouts": sorted(LAYOUTS)})
    return 0


# -- parser ----------------------------------------------------------------------------------

def _partial(p):
    p.add_argument("--allow-partial", action="store_true",
                   help="accept results without some subjects or folds (listed with the reason "
                        "in the stage's summary; a failed fold is never scored); default: exit 1 "
                        "when any subject or fold is missing (param orchestrator.allow_partial)")
    return p


def build_parser() -> argparse.ArgumentParser:
    from helo.data import LAYOUTS
    from helo.evaluation.splits import PROTOCOLS
    parser = argparse.ArgumentParser(
        prog="helo", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (default: one line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_, params=True):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        if params:
            p.add_argument("--params", default="params.yaml",
                           help="parameters file (default: params.yaml)")
            p.add_argument("-S", "--set", action="append", metavar="KEY=VALUE",
                           help="override a parameter for this run only, e.g. -S "
                                "model.helo.epochs=5 (DVC will not know: use dvc exp run -S "
                                "for tracked changes)")
        return p

    layouts = sorted(LAYOUTS)
    p = add("synth", cmd_synth, "write a seeded synthetic dataset in a real layout "
            "(--layout: DMER, WESAD, BIDS, generic with label distributions, and the public "
            "emotion data sets' own layouts)")
    p.add_argument("--layout", choices=list(synth_layouts()),
                   default="dmer-raw")
    p.add_argument("--out", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="default",
                   help="size preset: tiny, default, dmer-scale (DMER) / wesad-scale (WESAD) / "
                        "deap-scale (DEAP) / dreamer-scale (DREAMER) / amigos-scale (AMIGOS) / "
                        "mahnob-scale (MAHNOB-HCI)")
    p.add_argument("--from-params", action="store_true",
                   help="take layout/preset/seed from params.yaml and write data/raw/synth "
                        "(the DVC stage)")

    p = add("check-data", cmd_check_data, "list every problem in a dataset folder; exit 1 "
            "when there is an error. Reads with the reader settings extraction uses: "
            "data.task and data.events from --params (the defaults without a params.yaml) "
            "and -S, e.g. -S data.events.ids=numbered")
    p.add_argument("root", help="dataset root folder")
    p.add_argument("--layout", required=True, choices=layouts)
    p.add_argument("--task", help="bids: read only this task (sub-01_task-<task>_...); "
                   "default: data.task (every task when null)")

    p = add("extract", cmd_extract, "features of one modality for every subject "
            "(the pseudo-modality 'labels' stores the self-reports)")
    p.add_argument("--modality", required=True,
                   help="eeg, gsr, ppg, video, ecg, eda, emg, acc or labels")
    p.add_argument("--force", action="store_true", help="recompute subjects already done")
    _partial(p)

    add("feature-params", cmd_feature_params, "write each modality's extraction params to "
        "data/params/features/<modality>.json (what DVC's extract stages depend on)")
    add("method-params", cmd_method_params, "write each method's settings under each protocol "
        "(model.<method> with its by_protocol block) to data/params/methods/<protocol>/"
        "<method>.json (what DVC's evaluate stages depend on)")
    _partial(add("assemble", cmd_assemble, "join the feature store into one dataset with label "
                 "distributions"))

    p = _partial(add("evaluate", cmd_evaluate, "train and evaluate one method on every fold "
                     "of a protocol"))
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--method", required=True, help="helo, mean or a baseline name")

    add("report", cmd_report, "comparison tables (Markdown/CSV with ranks), figures, summary "
        "metrics")
    add("fit-final", cmd_fit_final, "train HeLo on all windows for `helo predict`")

    p = add("predict", cmd_predict, "apply a trained model to new recordings: distribution "
            "per window and per trial")
    p.add_argument("--model", default="models/helo", help="folder written by fit-final")
    p.add_argument("--input", required=True, help="recording folder (any supported layout)")
    p.add_argument("--layout", required=True, choices=layouts)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--subject", action="append", help="only these subject ids")
    p.add_argument("--task", help="bids: read only this task (sub-01_task-<task>_...); "
                   "default: every task. BIDS events are read with data.events of --params "
                   "(and -S data.events.ids=numbered style overrides)")
    _partial(p)

    p = add("inspect-video", cmd_inspect_video, "check the face crops of one video before "
            "extracting: faces.json (per-frame detections and crop boxes) and a contact sheet "
            "faces.png, with the detector settings of params.yaml features.video (defaults "
            "when there is no params.yaml) and the flags below on top")
    p.add_argument("video", help="a video file OpenCV can read (.avi, .mp4, ...)")
    p.add_argument("--out", required=True, help="folder for faces.json and faces.png")
    p.add_argument("--detector", choices=["mtcnn", "haar"],
                   help="face detector (features.video.detector; default mtcnn)")
    p.add_argument("--detect-width", type=int,
                   help="the detector sees a copy scaled down to this width, 0 = full frame "
                        "(features.video.detect_width; mtcnn 320, haar 160)")
    p.add_argument("--min-face", type=int,
                   help="smallest face in pixels of the frame (features.video.min_face; "
                        "mtcnn 40, haar 24)")
    p.add_argument("--detect-every", type=int,
                   help="detect on every k-th frame, hold the box between "
                        "(features.video.detect_every)")
    p.add_argument("--face-size", type=int, help="crop side in pixels (features.video.face_size)")
    p.add_argument("--crops", type=int, default=48,
                   help="crops on the contact sheet, evenly spaced (default 48)")
    p.add_argument("--cols", type=int, default=8, help="crops per row of the sheet (default 8)")
    p.add_argument("--fps", type=float, help="frame rate, when the file does not say")

    p = add("preset", cmd_preset, "apply a named parameter preset to params.yaml")
    p.add_argument("name", nargs="?", help="preset name (see --list)")
    p.add_argument("--list", action="store_true")

    p = add("ablate", cmd_ablate, "the paper's ablations as DVC experiments", params=False)
    p.add_argument("action", choices=["list", "queue", "run", "summary"],
                   help="list them; queue them (dvc exp run --queue); run them now; "
                        "summarise finished experiments into a table and plot")
    p.add_argument("--set", default="all",
                   help="components, modalities, query, heads, depth or all")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="outputs/ablation", help="summary folder")

    p = add("tune", cmd_tune, "search a method's hyper-parameters under one protocol (Optuna "
            "TPE, nested inner validation inside the protocol's training parts) and write them "
            "to params.yaml as model.<method>.by_protocol.<protocol>")
    p.add_argument("--method", help="a method of model.<method> in params.yaml (with --all: "
                   "only this method)")
    p.add_argument("--protocol", choices=PROTOCOLS,
                   help="the protocol whose training parts are searched and whose settings are "
                   "written (with --all: only this protocol)")
    p.add_argument("--all", action="store_true",
                   help="every method of evaluate.methods under every protocol of "
                   "evaluate.protocols, the same budget each; resumable: a search already "
                   "recorded with this budget on this data is skipped")
    p.add_argument("--force", action="store_true", help="with --all: search again what was "
                   "already recorded")
    p.add_argument("--trials", type=int, help="trial budget (default: tune.trials)")
    p.add_argument("--timeout", type=float, help="seconds (default: tune.timeout)")
    p.add_argument("--dry-run", action="store_true",
                   help="write the search record under outputs/tune/ only, not params.yaml")

    p = add("prefect", cmd_prefect, "local Prefect server and the helo/full deployment",
            params=False)
    p.add_argument("action", choices=["server", "serve", "up", "stop"],
                   help="server: start a local server (SQLite in .prefect/); serve: serve "
                        "deployment helo/full; up: both; stop: stop a background server")
    p.add_argument("--background", action="store_true", help="server: detach")
    p.add_argument("--name", default="full", help="deployment name")

    p = add("warm", cmd_warm, "the warm stage server (orchestrator.warm): stage commands "
            "fork from one process that imported the libraries once", params=False)
    p.add_argument("action", choices=["serve", "status", "stop"],
                   help="serve: run it here (the first stage command of a run starts one in "
                        "the background); status; stop: stop it (the commands it is running "
                        "finish)")
    p.add_argument("--socket", default=".helo/warm.sock", help="its Unix socket")
    p.add_argument("--idle", type=float, default=30.0,
                   help="serve: exit after this many seconds without a command")

    p = add("code-deps", cmd_code_deps, "write each stage's code digest (its import closure "
            "inside helo/ with file hashes) into codedeps/: what DVC re-runs a stage on "
            "(helo/orchestration/codedeps.py)", params=False)
    p.add_argument("--out", default="codedeps", help="digest folder (default: codedeps)")
    p.add_argument("--params", default="params.yaml",
                   help="its features.modalities without a feature module (a generic table's "
                        "own) get digests too")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when a digest differs from the code")

    add("info", cmd_info, "versions, device and supported layouts", params=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``helo argv`` (``None``: this process's own arguments). A stage command owns its
    outputs while it runs (:mod:`helo.stages.ownership`); run as a process of its own, it ends
    with its caller (:mod:`helo.orchestration.lifetime`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    from helo.stages import ownership
    outputs = ownership.command_outputs(words)
    if not outputs:
        return _main(argv)
    from helo.orchestration.lifetime import StageStopped, end_with_caller
    name = next((w for w in words if not w.startswith("-")), "")
    try:
        if argv is None:
            end_with_caller()
        with ownership.owned(outputs, words):
            return _main(argv)
    except ownership.OutputsBusy as err:
        print(f"helo {name}: error: {err}", file=sys.stderr)
        return 1
    except StageStopped as err:
        print(f"helo {name}: {err}; its outputs were left as they were", file=sys.stderr)
        return 128 + err.signum


def _main(argv: list[str] | None) -> int:
    if argv is None:  # a process of its own (DVC's stage commands): maybe a warm one
        from helo.orchestration import warm
        if warm.enabled(sys.argv[1:]):
            rc = warm.run_via_server(sys.argv[1:])
            if rc is not None:
                return rc
            warm.start_server_background()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.debug:  # everything raises with its traceback
        return int(args.func(args) or 0)
    from helo.data.base import DataError
    from helo.stages.ownership import RunSuperseded
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"helo {args.command}: interrupted", file=sys.stderr)
        return 130
    # the user's to fix, or a run a newer one took over: one line
    except (DataError, FileNotFoundError, ValueError, KeyError, RunSuperseded) as err:
        print(f"helo {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one clean line; --debug shows the traceback
        print(f"helo {args.command}: error: {type(err).__name__}: {_one_line(err)} (run "
              f"`helo --debug {args.command} ...` for the traceback)", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
