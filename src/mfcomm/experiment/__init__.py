"""Experiments: a run from its configuration to its result directory.

:mod:`~mfcomm.experiment.runs` (train, save, load) with the run as data (:mod:`~mfcomm.experiment.run`); one
training is driven by :mod:`~mfcomm.experiment.session`; :mod:`~mfcomm.experiment.run_directory` (where results
go, written atomically); the tasks a run trains (:mod:`~mfcomm.experiment.tasks`: symbols,
:mod:`~mfcomm.experiment.symbol_task`, and bits, :mod:`~mfcomm.experiment.bit_task`); the candidate systems tried
before the main training (:mod:`~mfcomm.experiment.candidates`); the check of the gradient estimate against the
true gradient (:mod:`~mfcomm.experiment.gradcheck`, Theorem 1); sweeps over SNR (:mod:`~mfcomm.experiment.snr_sweep`,
:mod:`~mfcomm.experiment.coded_sweep`); TensorBoard logs (:mod:`~mfcomm.experiment.tensorboard_log`) and the demo
(:mod:`~mfcomm.experiment.demo`)."""
