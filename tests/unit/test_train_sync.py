"""No host synchronisation inside a training step, for every deep method.

On the CPU there is no device to wait for, but the calls that would wait on a GPU are the
same: ``.item()``, ``float(t)``, ``int(t)`` and ``bool(t)`` dispatch to
``aten::_local_scalar_dense``, boolean-mask indexing to ``aten::nonzero``. A dispatch mode
counts them while the engine runs a step (``Trainer.run_step``, both paths: one model and a
stack) and in the whole fit: none inside steps, and a fixed number per fit whatever the number
of steps (the once-per-epoch reads of the loss sums and validation losses are copies, not
scalar reads).
"""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from helo.evaluation.runner import STACKABLE_METHODS
from helo.model import train
from helo.model.base import ModalitySpec
from helo.model.registry import get_class, make_model
from helo.model.train import FoldPool, FoldRows

DIMS = {"eeg": 10, "gsr": 4, "ppg": 3, "video": 12}
SPEC = ModalitySpec(dims=DIMS, physiological=["eeg", "gsr", "ppg"], behavioural=["video"],
                    n_labels=5, label_names=list("abcde"), channels={"eeg": 2})
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::item")
#: small networks of every deep method, two epochs, validation rows (early stopping's read)
PARAMS = {
    "helo": dict(d=16, heads=2, tokens=2, head_hidden=16, ot_iter=5, dropout=0.0),
    "carat": dict(d=16, dz=8, heads=2, n_layers=1, dropout=0.0, n_tokens=2),
    "rsm-ual": dict(d=16, heads=2, dropout=0.0, n_tokens=2),
    "amanda": dict(d=8, hidden=8, dropout=0.0),
    "conformer": dict(d=16, depth=1, heads=2, dropout=0.0, n_tokens=2),
    "maet": dict(d=8, depth=2, heads=2, views=2, mixffn_start=1, dropout=0.0),
    "emotiondict": dict(d_joint=8, d_uni=4, heads=2, depth=1, dropout=0.0, n_atoms=4),
    "sa-cpnn": dict(n_hidden=8),
}
DEEP = [m for m in STACKABLE_METHODS if m in PARAMS]


def _pool(n_rows):
    rng = np.random.default_rng(0)
    n = sum(n_rows) + 3 * 12 + 3 * 10
    X = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items()}
    z = X["eeg"][:, :5] + 0.5 * X["video"][:, :5]
    y = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    folds, off = [], 0
    for k in n_rows:
        rows = np.arange(off, off + k)
        val = np.arange(off + k, off + k + 12)
        tgt = np.arange(off + k + 12, off + k + 22)
        folds.append(FoldRows(rows=rows, val_rows=val, target_rows=tgt,
                              shift={m: np.zeros((1, d)) for m, d in DIMS.items()},
                              scale={m: np.ones((1, d)) for m, d in DIMS.items()}))
        off += k + 22
    return FoldPool(X=X, y=y, folds=folds)


class SyncCounter(TorchDispatchMode):
    """Counts host reads (``_local_scalar_dense``, ``nonzero``), and those inside a step."""
    OPS = (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default)

    def __init__(self):
        super().__init__()
        self.inside = self.total = self.steps = 0
        self.in_step = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.OPS:
            self.total += 1
            self.inside += self.in_step
        return func(*args, **(kwargs or {}))


def _count(method, n_rows, stacked=True, monkeypatch=None, epochs=2):
    """(reads inside steps, reads in all, steps) of a fit of ``len(n_rows)`` folds."""
    params = {**PARAMS[method], "epochs": epochs, "batch_size": 8, "device": "cpu",
              "patience": 5}
    learners = [make_model(method, SPEC, {**params, "seed": k}) for k in range(len(n_rows))]
    pool = _pool(n_rows)
    if not getattr(learners[0], "uses_target", False):
        for f in pool.folds:
            f.target_rows = None
    counter = SyncCounter()
    for cls in (train.OneModelTrainer, train.StackTrainer):
        def run_step(self, t, _orig=cls.run_step):
            counter.in_step = True
            counter.steps += 1
            try:
                _orig(self, t)
            finally:
                counter.in_step = False
        monkeypatch.setattr(cls, "run_step", run_step)
    with counter:
        get_class(method).fit_many(learners, pool, stacked=stacked)
    return counter.inside, counter.total, counter.steps


@pytest.mark.parametrize("stacked", [True, False], ids=["stack", "one-model"])
@pytest.mark.parametrize("method", DEEP)
def test_no_host_sync_inside_a_step(method, stacked, monkeypatch):
    inside, total, steps = _count(method, [40, 29, 33], stacked, monkeypatch)
    # 40 rows at batch 8: five steps an epoch, two epochs (29, 33: four each, one at a time)
    assert steps == (10 if stacked else 10 + 8 + 8)
    assert inside == 0, f"{method}: {inside} host reads inside {steps} steps"
    # a fixed number per fit, whatever the number of steps: twice the data, the same count
    _, total_long, steps_long = _count(method, [80, 58, 66], stacked, monkeypatch)
    assert steps_long > steps and total_long == total
    # and per epoch at most one read a member (the one-model path's validation loss); the
    # rest is set-up once per fit (initialisers that read a value)
    _, total_3, _ = _count(method, [40, 29, 33], stacked, monkeypatch, epochs=3)
    assert total_3 - total <= 3


def test_the_counter_sees_a_loss_that_reads_a_value(monkeypatch):
    """The test is meaningful: a loss calling ``float()`` on the one-model path is caught."""
    import helo.model.helo as helo_mod
    made = helo_mod.helo_loss

    def reading(lam, reduction="mean"):
        fn = made(lam, reduction)

        def loss_fn(net, xb, yb, w):
            loss, logs = fn(net, xb, yb, w)
            return loss, {**logs, "kl_read": float(logs["kl"])}
        return loss_fn
    monkeypatch.setattr(helo_mod, "helo_loss", reading)
    inside, _, steps = _count("helo", [40], False, monkeypatch)
    assert inside == steps == 10
