"""The options each method's learner accepts (``model.<method>`` keys), as a static table.

Validation (:mod:`helo.stages.schema`) refuses a key a learner does not know without importing
the learner (importing PyLDL or a torch model is seconds a command). Like the rest of the
schema's checks this table can only refuse a run, so it is in no stage's code digest
(:mod:`helo.orchestration.codedeps`).
"""
from __future__ import annotations

from typing import Optional

_TORCH_COMMON = ("seed", "epochs", "batch_size", "lr", "weight_decay", "device", "patience",
                 "min_delta", "grad_clip", "num_threads", "deterministic", "compile",
                 "precision")
_PYLDL_COMMON = ("seed", "pca", "whiten")

#: the keys each method's learner accepts as keyword options (``model.<method>``; ``modalities``,
#: the ablations' subset, is taken by the stages for every method). ``None``: the learner hands
#: the keys it does not know on to its PyLDL estimator, whose own keywords are not listed here
#: (importing PyLDL may import PyTorch). A static table, so that validating imports no learner;
#: ``tests/unit/test_stages_config.py`` keeps it equal to the learners' ``defaults``,
#: ``_common_defaults``, ``NET_DEFAULTS`` and ``TRAIN_DEFAULTS``.
METHOD_OPTIONS: dict[str, Optional[frozenset[str]]] = {
    "helo": frozenset((
        "d", "heads", "ff", "depth", "tokens", "query", "use_capf", "use_othm", "use_ot",
        "use_lcdca", "modalities", "tokenizer", "capf_residual", "ot_eps", "ot_iter",
        "plan_apply", "detach_plan", "sinkhorn", "corr_mode", "label_cond", "lcdca_heads",
        "head_hidden", "dropout",  # NET_DEFAULTS
        "lr", "batch_size", "epochs", "weight_decay", "lambda_cc", "cc_reduction", "device",
        "seed", "patience", "min_delta", "grad_clip", "progress", "deterministic",
        "predict_batch", "compile", "precision")),  # TRAIN_DEFAULTS
    "mean": None,
    "pt-svm": None,
    "aa-knn": None,
    "sa-cpnn": frozenset((*_TORCH_COMMON, "n_hidden", "pca", "whiten", "solver", "optimizer",
                          "etas", "step_sizes")),
    "ldl-lrr": None,
    "tlrldl": None,
    "cad": None,
    "carat": frozenset((*_TORCH_COMMON, "d", "dz", "heads", "n_layers", "dropout", "n_tokens",
                        "tau", "phi", "gamma_o", "gamma_alpha", "gamma_beta", "gamma_s",
                        "gamma_sf", "gamma_r")),
    "rsm-ual": frozenset((*_TORCH_COMMON, "d", "heads", "dropout", "alpha", "beta", "cmd_k",
                          "n_tokens")),
    "amanda": frozenset((*_TORCH_COMMON, "d", "hidden", "dropout", "gamma", "alpha1", "alpha2",
                         "surrogate", "p", "t", "coral_scale")),
    "conformer": frozenset((*_TORCH_COMMON, "d", "depth", "heads", "dropout", "n_tokens",
                            "kernel", "modalities")),
    "maet": frozenset((*_TORCH_COMMON, "d", "views", "depth", "heads", "mlp_ratio", "dropout",
                       "mixffn_start", "layer_scale", "adversarial", "lambda_domain")),
    "emotiondict": frozenset((*_TORCH_COMMON, "d_joint", "d_uni", "heads", "depth", "dropout",
                              "n_tokens", "n_atoms", "d_embed", "lambda_uni",
                              "lambda_dominant")),
}
