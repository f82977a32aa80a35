"""Seeded synthetic DEAP: the preprocessed Python release (:mod:`~helo.synth.deap.preprocessed`,
layout ``deap``) and the original BDF recordings with face videos (:mod:`~helo.synth.deap.bdf`,
layout ``deap-bdf``), both from one signal model (:mod:`~helo.synth.deap.signals`) and the same
participants for a seed."""
from __future__ import annotations

from helo.synth.deap.bdf import generate_deap_bdf
from helo.synth.deap.preprocessed import generate_deap

__all__ = ["generate_deap", "generate_deap_bdf"]
