"""Linear dynamical system (LDS) smoothing of a feature sequence over windows, as SEED's
``de_LDS`` features are smoothed (Shi & Lu 2010, *EMBC* 6587-6590; Duan, Zhu & Lu 2013, *NER*
81-84).

Each feature is its own scalar state-space model over the windows ``t = 1 .. T`` of a trial::

    z_1 ~ N(mu_0, p_0)                      prior: mean of the trial's sequence, variance p_0
    z_t = z_{t-1} + w_t,   w_t ~ N(0, q)    random walk (transition 1, process variance q)
    x_t = z_t + v_t,       v_t ~ N(0, r)    the window's feature (observation 1, noise r)

``smooth="lds"`` returns the posterior mean ``E[z_t | x_1 .. x_T]``: the Kalman filter forward
then the Rauch-Tung-Striebel smoother backward. ``smooth="lds-filter"`` returns the forward pass
only, ``E[z_t | x_1 .. x_t]``, which is what LibEER's ``lds`` (``data_utils/preprocess.py``)
computes. The variances are fixed, not learnt: ``q = 1e-4``, ``r = 1``, ``p_0 = 0.01`` by
default, the values of the LDS code circulated with SEED as LibEER transcribes it
(``noise_correlation``, ``observation_correlation``, ``prior_correlation``); ``mu_0`` is the mean
of the trial's sequence, as there. One difference from that code: its first step corrects the
prior mean by ``x_1 - p_0`` where the Kalman update reads ``x_1 - mu_0``; helo uses the update.

With ``q / r = 1e-4`` the steady-state Kalman gain is about ``sqrt(q / r) = 0.01``: the filter
is an exponential average over about 100 windows and the smoother its two-sided version, so a
trial's sequence keeps its slow course and loses its window-to-window scatter. With fixed
variances the result is a linear map of the sequence whose weights depend on ``q / r`` and
``p_0 / r`` only, so it treats DE in nats (helo) as it treats DE in log2 units (SEED): scaling
the features scales the result.

A NaN observation (a window past the recording, a flat channel) is skipped: the filter only
predicts through it, and the output stays NaN there, so smoothing never invents a feature for
a window that had none. A sequence that is all NaN stays all NaN.

Params (``features.eeg``): ``smooth`` (``none`` | ``lds`` | ``lds-filter``),
``lds_process_var`` (q), ``lds_observation_var`` (r), ``lds_prior_var`` (p_0).
"""
from __future__ import annotations

import numpy as np

#: ``features.eeg.smooth`` values
SMOOTHERS = ("none", "lds", "lds-filter")
#: the fixed variances (q, r, p_0) of the SEED LDS code as LibEER transcribes it
PROCESS_VAR, OBSERVATION_VAR, PRIOR_VAR = 1e-4, 1.0, 0.01


def lds_smooth(x: np.ndarray, axis: int = 0, *, process_var: float = PROCESS_VAR,
               observation_var: float = OBSERVATION_VAR, prior_var: float = PRIOR_VAR,
               prior_mean: np.ndarray | float | None = None,
               smoother: bool = True) -> np.ndarray:
    """``x`` smoothed along ``axis`` (the windows), every other position its own sequence.

    ``prior_mean`` None: each sequence's mean over its finite values. ``smoother`` False: the
    forward (filtered) estimate only. Returns float64 of ``x``'s shape; NaN where ``x`` is NaN.
    """
    for name, v in (("process_var", process_var), ("observation_var", observation_var),
                    ("prior_var", prior_var)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"lds_smooth: {name} must be a positive number, not {v!r}")
    x = np.asarray(x, dtype=np.float64)
    moved = np.moveaxis(x, axis, 0)
    shape = moved.shape
    y = moved.reshape(shape[0], -1)  # (T, F)
    T = y.shape[0]
    if T == 0:
        return x.copy()
    seen = np.isfinite(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, y, 0.0).sum(axis=0) / seen.sum(axis=0)
    if prior_mean is not None:
        mean = np.broadcast_to(np.asarray(prior_mean, dtype=np.float64),
                               mean.shape).astype(np.float64)
    q, r = float(process_var), float(observation_var)
    m_pred = np.empty_like(y)  # E[z_t | x_1 .. x_{t-1}]
    p_pred = np.empty_like(y)
    m_filt = np.empty_like(y)  # E[z_t | x_1 .. x_t]
    p_filt = np.empty_like(y)
    m, p = mean, np.full(y.shape[1], float(prior_var))
    for t in range(T):
        m_pred[t], p_pred[t] = m, p
        gain = np.where(seen[t], p / (p + r), 0.0)
        m = m + gain * (np.where(seen[t], y[t], m) - m)
        p = (1.0 - gain) * p
        m_filt[t], p_filt[t] = m, p
        p = p + q  # predict the next window: z_{t+1} = z_t + w, mean unchanged
    out = m_filt.copy()
    if smoother:
        ms = m_filt[T - 1]
        for t in range(T - 2, -1, -1):
            back = p_filt[t] / p_pred[t + 1]
            ms = m_filt[t] + back * (ms - m_pred[t + 1])
            out[t] = ms
    out[~seen] = np.nan
    return np.moveaxis(out.reshape(shape), 0, axis)


def smooth_windows(X: np.ndarray, params: dict) -> np.ndarray:
    """A trial's feature matrix ``X`` (windows x features) smoothed as ``params['smooth']``
    says (``features.eeg``; see the module doc); ``none`` returns ``X`` itself."""
    how = params.get("smooth", "none") or "none"
    if how not in SMOOTHERS:
        raise ValueError(f"smooth must be one of {SMOOTHERS}, not {how!r}")
    if how == "none":
        return X
    return lds_smooth(X, axis=0, smoother=how == "lds",
                      process_var=float(params.get("lds_process_var", PROCESS_VAR)),
                      observation_var=float(params.get("lds_observation_var", OBSERVATION_VAR)),
                      prior_var=float(params.get("lds_prior_var", PRIOR_VAR)))


__all__ = ["lds_smooth", "smooth_windows", "SMOOTHERS", "PROCESS_VAR", "OBSERVATION_VAR",
           "PRIOR_VAR"]
