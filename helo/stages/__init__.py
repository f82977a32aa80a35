"""One module per DVC stage (synthesize, extract, assemble, evaluate, fit_final, report), each
with ``run(params, ...)``: the only code that reads params.yaml and the project's paths."""
