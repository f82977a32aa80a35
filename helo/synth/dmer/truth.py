"""The ground truth of a synthetic DMER subject: the clips' intensities, the presentation order
and the self-reports (PANAS and the extra ratings) with the affect they imply."""
from __future__ import annotations

import numpy as np

from helo.data.dmer.protocol import clip_category
from helo.synth.dmer.config import _BLOCKS, DmerSynthConfig


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in key]])


def _clip_intensities(seed: int) -> np.ndarray:
    """(32, 2) positive/negative intensity of every clip, shared by all subjects."""
    r = _rng(seed, 999_001)
    out = np.zeros((32, 2))
    for k in range(32):
        cat = clip_category(k)
        if cat == "positive":
            out[k] = r.uniform(0.55, 0.95), r.uniform(0.0, 0.15)
        elif cat == "negative":
            out[k] = r.uniform(0.0, 0.15), r.uniform(0.55, 0.95)
        else:
            out[k] = r.uniform(0.35, 0.8), r.uniform(0.35, 0.8)
    return out


def _presentation(cfg: DmerSynthConfig, sid: int, r: np.random.Generator) -> list[int]:
    """Clip ids in presentation order: a Latin-square block order by (sid-1) mod 4."""
    n = cfg.n_trials
    counts = [n // 4 + (1 if b < n % 4 else 0) for b in range(4)]
    row = (sid - 1) % 4
    order = []
    for j in range(4):
        b = (row + j) % 4
        if counts[b]:
            chosen = r.choice(_BLOCKS[b], size=counts[b], replace=False)
            order.extend(int(c) for c in r.permutation(chosen))
    return order


def _self_reports(seed: int, sid: int, clips: list[int], clip_int: np.ndarray) -> list[dict]:
    r = _rng(seed, sid, 1)
    gain = r.uniform(0.7, 1.25)
    item_bias = r.normal(0.0, 0.2, size=10)
    item_weight = r.uniform(0.7, 1.2, size=10)
    out = []
    for clip in clips:
        p_int, n_int = clip_int[clip] * gain + r.normal(0, 0.08, size=2)
        lat = np.r_[np.full(5, p_int), np.full(5, n_int)] * item_weight
        raw = 1 + 4 * lat + item_bias + r.normal(0, 0.4, size=10)
        scores = np.clip(np.rint(raw), 1, 5).astype(int)
        pos = (scores[:5].mean() - 1) / 4
        neg = (scores[5:].mean() - 1) / 4
        aro = float(np.clip(0.6 * max(pos, neg) + 0.4 * (scores[[1, 7]].mean() - 1) / 4, 0, 1))
        val = int(np.clip(np.rint(5 + 4 * (pos - neg) + r.normal(0, 0.6)), 1, 9))
        aro9 = int(np.clip(np.rint(1 + 8 * aro + r.normal(0, 0.6)), 1, 9))
        dom = int(np.clip(np.rint(5 + 2 * (pos - neg) + r.normal(0, 0.8)), 1, 9))
        amu = int(np.clip(np.rint(1 + 4 * pos * 0.9 + r.normal(0, 0.4)), 1, 5))
        dis = int(np.clip(np.rint(1 + 4 * neg * 0.9 + r.normal(0, 0.4)), 1, 5))
        out.append(dict(clip=int(clip), panas=[int(s) for s in scores],
                        distribution=[float(s) for s in scores / scores.sum()],
                        arousal=aro9, valence=val, dominance=dom, amusement=amu, disgust=dis,
                        affect=dict(pos=float(pos), neg=float(neg), arousal=aro)))
    return out
