"""Evaluation: how good a trained system is.

:mod:`~mfcomm.evaluation.ser` (Monte Carlo SER with exact Clopper-Pearson intervals),
:mod:`~mfcomm.experiment.snr_sweep` (SER against Es/N0), :mod:`~mfcomm.system.baselines` (the classical
same-rate systems, closed forms, ML detection), :mod:`~mfcomm.evaluation.reference` (the classical system on
the run's own channel), and for bit-wise systems :mod:`~mfcomm.evaluation.coded` and
:mod:`~mfcomm.experiment.coded_sweep` (Sionna's 5G LDPC code) and :mod:`~mfcomm.evaluation.export`."""
