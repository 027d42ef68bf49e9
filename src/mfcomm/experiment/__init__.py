"""Experiments: a run from its configuration to its result directory.

:mod:`~mfcomm.experiment.config` (plain data in :mod:`~mfcomm.experiment.config_fields`, validated by
:mod:`~mfcomm.experiment.config_checks`), :mod:`~mfcomm.experiment.runs` (train, save, load; one training is
driven by :mod:`~mfcomm.experiment.session`), :mod:`~mfcomm.experiment.run_directory` (where results go,
written atomically), figures (:mod:`~mfcomm.experiment.plots`, :mod:`~mfcomm.experiment.tensorboard_log`),
the demo (:mod:`~mfcomm.experiment.demo`) and the bit-wise runs (:mod:`~mfcomm.experiment.bitwise_config`,
:mod:`~mfcomm.experiment.bitwise_runs`)."""
