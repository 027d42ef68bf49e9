"""``mfcomm sweep``: many ``mfcomm train`` runs over a grid or a random search, on Ray Tune.

- :mod:`mfcomm.tune.spec`: SPEC.toml parsed into a fixed list of trials, every configuration validated
  before any trial starts (no Ray needed);
- :mod:`mfcomm.tune.runner`: the trials on an embedded local Ray or an existing cluster, each one
  ``mfcomm train`` run (:func:`mfcomm.experiment.runs.train`, then :func:`mfcomm.experiment.runs.save`);
- :mod:`mfcomm.tune.report`: ``results.csv``, ``report.md`` with figures, ``best-config.toml``.

Ray is imported by :mod:`mfcomm.tune.runner` only, which the command line imports when a sweep starts:
``mfcomm train`` never pays for it.
"""
