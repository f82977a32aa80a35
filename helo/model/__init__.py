"""Networks (HeLo: capf, othm, lcdca, helo), the training loop, the baselines and the registry
of methods behind one learner interface (base.py)."""
