import numpy as np
import pytest
import torch

from helo.evaluation.metrics import METRICS, evaluate
from helo.model.base import ModalitySpec
from helo.model.complexity import count_flops, report
from helo.model.helo import HeLoLearner, HeLoNet, MeanDistribution, Tokenizer
from helo.model.lcdca import LCDCA, batch_label_correlation, cc_loss
from helo.model.registry import available, make_model

torch.set_num_threads(1)

DIMS = {"eeg": 20, "gsr": 6, "ppg": 5, "video": 24}
SPEC = ModalitySpec(dims=DIMS, physiological=["eeg", "gsr", "ppg"], behavioural=["video"],
                    n_labels=5, channels={"eeg": 4})
SMALL = dict(d=16, heads=2, tokens=3, head_hidden=32, dropout=0.0)


def make_data(n, seed=0, noise=0.3, spec=SPEC):
    rng = np.random.default_rng(seed)
    W = {m: np.random.default_rng(100 + i).normal(size=(spec.n_labels, d)) * 3
         for i, (m, d) in enumerate(spec.dims.items())}
    y = rng.dirichlet(np.ones(spec.n_labels) * 0.7, size=n)
    X = {m: (y @ W[m] + noise * rng.normal(size=(n, d))).astype(np.float32)
         for m, d in spec.dims.items()}
    return X, y


def tensors(X):
    return {m: torch.as_tensor(v) for m, v in X.items()}


def build(seed=0, spec=SPEC, **kw):
    torch.manual_seed(seed)
    return HeLoNet(spec, **{**SMALL, **kw}).eval()


def test_shapes_and_rows_sum_to_one():
    X, _ = make_data(7)
    net = build()
    p, aux = net(tensors(X))
    assert p.shape == (7, 5)
    torch.testing.assert_close(p.sum(1), torch.ones(7))
    assert aux["tokens_phy"].shape == (7, 6, 16)  # 2 key modalities x C
    assert aux["tokens_beh"].shape == (7, 6, 16)
    assert aux["plan"].shape == (7, 6, 6)
    assert aux["tokens"].shape == (7, 12, 16)
    assert aux["M_L"].shape == (7, 5, 5)
    assert set(aux["capf_attn"]) == {"gsr", "ppg"}


def _differs(base, variant, X):
    """Same weights where the architectures agree, else a different parameter count or a
    different output for the same seed."""
    pb, _ = base(X)
    sd_b, sd_v = base.state_dict(), variant.state_dict()
    same_arch = sd_b.keys() == sd_v.keys() and all(sd_b[k].shape == sd_v[k].shape for k in sd_b)
    if same_arch:
        variant.load_state_dict(sd_b)
        pv, _ = variant(X)
        return not torch.allclose(pb, pv, atol=1e-6)
    n_b = sum(p.numel() for p in base.parameters())
    n_v = sum(p.numel() for p in variant.parameters())
    pv, _ = variant(X)
    return n_b != n_v or not torch.allclose(pb, pv, atol=1e-6)


@pytest.mark.parametrize("kw", [
    dict(use_capf=False), dict(use_othm=False), dict(use_ot=False), dict(use_lcdca=False),
    dict(query="gsr"), dict(heads=4), dict(depth=2), dict(modalities=["eeg", "gsr", "video"]),
    dict(capf_residual="query_postln"), dict(corr_mode="none"), dict(corr_mode="bias"),
    dict(label_cond="static"), dict(tokenizer="channels"), dict(plan_apply="raw"),
    dict(ot_eps=0.5),
])
def test_each_switch_changes_computation(kw):
    X = tensors(make_data(6)[0])
    base = build()
    variant = build(**kw)
    assert _differs(base, variant, X), kw


def test_parameter_counts_differ_for_structural_switches():
    n0 = sum(p.numel() for p in build().parameters())
    for kw in (dict(use_capf=False), dict(use_othm=False), dict(use_lcdca=False),
               dict(depth=2), dict(modalities=["eeg", "video"])):
        assert sum(p.numel() for p in build(**kw).parameters()) != n0, kw


@pytest.mark.parametrize("mods", [["eeg"], ["eeg", "gsr"], ["video"], ["gsr", "video"],
                                  ["eeg", "ppg", "video"]])
@pytest.mark.parametrize("flags", [dict(), dict(use_capf=False, use_othm=False)])
def test_modality_subsets(mods, flags):
    X = tensors(make_data(4)[0])
    net = build(modalities=mods, **flags)
    p, aux = net(X)
    assert p.shape == (4, 5)
    torch.testing.assert_close(p.sum(1), torch.ones(4))
    has_phy = any(m in SPEC.physiological for m in mods)
    has_beh = "video" in mods
    assert ("plan" in aux) == (has_phy and has_beh and flags.get("use_othm", True))
    if has_phy:
        assert aux["tokens_phy"].shape[1] == 6 or not flags.get("use_capf", True)


def test_spec_with_only_physiological_modalities():
    spec = ModalitySpec(dims={"ecg": 8, "emg": 5, "eda": 7}, physiological=["ecg", "emg", "eda"],
                        behavioural=[], n_labels=4)
    X, y = make_data(40, spec=spec)
    net = build(spec=spec)
    assert net.query == "ecg"
    p, _ = net(tensors(X))
    assert p.shape == (40, 4)


def test_bad_query_raises():
    with pytest.raises(ValueError):
        build(query="video")


def test_tokenizer_channels():
    t = Tokenizer(20, 3, 8, "channels", channels=4)
    assert t.mode == "channels" and t(torch.randn(2, 20)).shape == (2, 3, 8)
    assert Tokenizer(21, 3, 8, "channels", channels=4).mode == "linear"  # fallback


def test_label_correlation_and_cc_loss():
    y = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    m = batch_label_correlation(y)
    assert m.shape == (3, 3)
    torch.testing.assert_close(torch.diagonal(m), torch.ones(3))
    c01 = (0.5 * 0.5 + 0.2 * 0.3) / (np.hypot(0.5, 0.2) * np.hypot(0.5, 0.3))
    assert float(m[0, 1]) == pytest.approx(c01, rel=1e-5)
    assert float(cc_loss(m, y)) == pytest.approx(0.0, abs=1e-10)
    assert float(cc_loss(torch.zeros(3, 3), y, "sum")) == pytest.approx(float((m ** 2).sum()))
    lc = LCDCA(3, 4, 8, label_cond="static")
    _, aux = lc(torch.randn(2, 4, 8))
    assert aux["M_L"].shape == (3, 3)


def test_cpu_determinism_and_checkpoint_roundtrip(tmp_path):
    X, y = make_data(120)
    params = dict(SMALL, dropout=0.1, epochs=3, batch_size=32, seed=7, device="cpu")
    a = HeLoLearner(SPEC, **params).fit(X, y)
    b = HeLoLearner(SPEC, **params).fit(X, y)
    pa, pb = a.predict(X), b.predict(X)
    np.testing.assert_array_equal(pa, pb)
    assert [r["loss"] for r in a.history()] == [r["loss"] for r in b.history()]
    np.testing.assert_allclose(pa.sum(1), 1.0, rtol=1e-12)
    path = tmp_path / "m" / "helo.pt"
    a.save(path)
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == "helo.HeLoLearner/1"
    c = HeLoLearner.load(path)
    np.testing.assert_array_equal(c.predict(X), pa)
    # the checkpoint keeps the history without its timings (same training, same bytes)
    assert c.history() == [{k: v for k, v in r.items() if k != "seconds"} for r in a.history()]
    assert [p.name for p in path.parent.iterdir()] == ["helo.pt"]  # no temp leftovers
    aux = c.forward_aux({m: v[:10] for m, v in X.items()})
    assert aux["plan"].shape == (10, 6, 6) and aux["M_L"].shape == (10, 5, 5)


def test_early_stopping_and_history():
    X, y = make_data(150)
    Xv, yv = make_data(50, seed=1)
    m = HeLoLearner(SPEC, **SMALL, epochs=40, batch_size=50, patience=2, lr=3e-2,
                    device="cpu").fit(X, y, X_val=Xv, y_val=yv)
    h = m.history()
    assert 1 <= len(h) <= 40
    assert {"epoch", "loss", "kl", "cc", "val_loss"} <= set(h[0])


def test_unknown_param_raises():
    with pytest.raises(TypeError):
        HeLoLearner(SPEC, learning_rate=1)


def test_beats_mean_distribution_on_synthetic():
    Xtr, ytr = make_data(600, seed=0)
    Xte, yte = make_data(200, seed=1)
    helo = make_model("helo", SPEC, dict(d=32, heads=2, tokens=4, head_hidden=64, epochs=12,
                                         batch_size=64, seed=0, device="cpu")).fit(Xtr, ytr)
    mean = make_model("mean", SPEC).fit(Xtr, ytr)
    rh, rm = evaluate(yte, helo.predict(Xte)), evaluate(yte, mean.predict(Xte))
    for name, metric in METRICS.items():
        better = rh[name] > rm[name] if metric.higher_is_better else rh[name] < rm[name]
        assert better, (name, rh[name], rm[name])


def test_registry():
    assert {"helo", "mean"} <= set(available())
    assert isinstance(make_model("mean", SPEC), MeanDistribution)
    with pytest.raises(KeyError):
        make_model("no-such-model", SPEC)


def test_complexity_counts():
    r = report()
    assert r["params"] > 1e6 and r["flops"] == 2 * r["macs"] > 1e6
    net = build()
    f = count_flops(net, DIMS)
    assert f["flops"] > 0 and "othm" in f["by_module_flops"]
