"""Prefect flows over the pipeline's stage functions.

* ``helo`` (served as deployment ``full``): brings the whole pipeline up to date by running
  ``dvc repro`` in the project, so DVC's lock file stays the single truth of what is current;
  each stage then runs as its own flow (below) with one task per subject or fold.
* ``extract`` / ``evaluate``: per-subject and per-fold tasks on the configured task runner
  (threads, processes, Dask or Ray), with retries on transient failures.
"""
