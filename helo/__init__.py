"""helo: raw multimodal recordings to predicted emotion distributions with HeLo.

Layout (data flows top to bottom):

* :mod:`helo.data` -- readers for DMER (raw, aligned, features), WESAD, a generic
  precomputed-features layout, and the seeded synthetic generator writing the real layouts.
* :mod:`helo.features` -- pure feature functions (arrays + sampling rate in, matrix + names out).
* :mod:`helo.stages` -- feature store, assembly, folds, metrics, reports: the pipeline stages.
* :mod:`helo.model` -- PyTorch HeLo (CAPF, OTHM, LCDCA) and baselines behind one interface.
* :mod:`helo.orchestration` -- Prefect flows over the same stage functions.

Importing :mod:`helo` pins the CPU kernels of NumPy, PyTorch, the BLAS and OpenCV at one level
(:mod:`helo.cpu_kernels`), so results are the same bytes on any x86-64 CPU.
"""

from helo.cpu_kernels import pin as _pin_cpu_kernels

_pin_cpu_kernels()  # before NumPy, PyTorch, the BLAS or OpenCV load: helo/cpu_kernels.py

__version__ = "0.1.0"
