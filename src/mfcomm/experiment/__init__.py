"""Experiments: a run from its configuration to its result directory.

:mod:`~mfcomm.config.files` (plain data in :mod:`~mfcomm.config.fields`, validated by
:mod:`~mfcomm.config.checks`), :mod:`~mfcomm.experiment.runs` (train, save, load; one training is
driven by :mod:`~mfcomm.experiment.session`), :mod:`~mfcomm.experiment.run_directory` (where results go,
written atomically), figures (:mod:`~mfcomm.plots`, :mod:`~mfcomm.experiment.tensorboard_log`),
the demo (:mod:`~mfcomm.experiment.demo`), and the tasks a run trains (:mod:`~mfcomm.experiment.tasks`: symbols,
:mod:`~mfcomm.experiment.symbol_task`, and bits, :mod:`~mfcomm.experiment.bit_task`), with the defaults that change
together (:mod:`~mfcomm.config.recipes`)."""
