"""Evaluation: how good a trained system is. It measures; it writes no run directory.

:mod:`~mfcomm.evaluation.ser` (Monte Carlo SER with exact Clopper-Pearson intervals),
:mod:`~mfcomm.evaluation.reference` (the classical same-rate system of :mod:`~mfcomm.system.baselines` measured
on the run's own channel), and for bit-wise systems :mod:`~mfcomm.evaluation.coded` (Sionna's 5G LDPC code) and
:mod:`~mfcomm.evaluation.export` (a learned constellation as CSV, for Sionna). Sweeps over Es/N0 or Eb/N0, which
write their results into a run directory, are experiments (:mod:`~mfcomm.experiment.snr_sweep`,
:mod:`~mfcomm.experiment.coded_sweep`)."""
