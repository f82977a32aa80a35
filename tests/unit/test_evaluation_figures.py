"""The report's figures (helo.evaluation.figures): the same bytes every run, nothing drawn from
a diverged model, and matplotlib loaded only when a figure is drawn."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from helo.evaluation import figures


def test_cd_diagram_is_the_same_bytes_whatever_the_string_hash_seed(tmp_path):
    """scikit-posthocs draws crossbars through sets of method names; the diagram sorts their
    points, so the PNG (a DVC output) does not depend on PYTHONHASHSEED."""
    code = (
        "import numpy as np, pandas as pd, sys\n"
        "from pathlib import Path\n"
        "from helo.evaluation.figures import cd_diagram\n"
        "rng = np.random.default_rng(0)\n"
        "names = ['helo', 'mean', 'aa-knn', 'pt-svm', 'cad', 'carat', 'maet']\n"
        "base = {m: i * 0.004 for i, m in enumerate(names)}\n"
        "folds = {'loso': {m: pd.DataFrame({'fold': range(8), 'kl': base[m] + "
        "rng.normal(0, 0.01, 8)}) for m in names}}\n"
        "assert cd_diagram(folds, 'kl', Path(sys.argv[1]))\n")
    outs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"cd{seed}.png"
        env = {**__import__("os").environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_cd_diagram_needs_three_methods_and_two_folds(tmp_path):
    folds = {"loso": {m: pd.DataFrame({"fold": range(8), "kl": np.linspace(0, 1, 8)})
                      for m in ("helo", "mean")}}
    assert not figures.cd_diagram(folds, "kl", tmp_path / "cd.png")
    assert not (tmp_path / "cd.png").exists()


def test_nothing_drawn_from_non_finite_explanations(tmp_path):
    nan = np.full((4, 4), np.nan)
    ex = {"label_corr": nan, **{k: np.full((40, 2, 3), np.nan) for k in
                                ("phys_before", "beh_before", "phys_after", "beh_after")}}
    assert figures._label_corr(ex, list("abcd"), tmp_path) == []
    assert figures._tsne(ex, tmp_path) == []
    assert not (tmp_path / "figures").exists()


def test_importing_the_report_rooms_does_not_load_matplotlib():
    code = ("import sys\n"
            "import helo.evaluation.figures, helo.evaluation.tables, helo.evaluation.diagnosis\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib loaded on import'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
