"""Learning: how a system is trained.

:mod:`~mfcomm.learning.estimator` (the Gaussian perturbation and the Eq. 8 gradient estimate) and
:mod:`~mfcomm.learning.feedback` (the feedback link) feed :mod:`~mfcomm.learning.model_free` (Algorithm 1),
beside :mod:`~mfcomm.learning.model_based` (back-propagation through the channel), written once for both tasks
(:mod:`~mfcomm.learning.examples`: what an example is and its loss); their shared loop is
:mod:`~mfcomm.learning.loop` with :mod:`~mfcomm.learning.lr_schedule` and :mod:`~mfcomm.learning.stop_rule`;
:mod:`~mfcomm.experiment.candidates` tries several systems, :mod:`~mfcomm.learning.checkpointing` saves and
resumes a training, and
:mod:`~mfcomm.experiment.gradcheck` checks the estimate against the true gradient (Theorem 1)."""
