r"""Learning: how a system is trained.

:func:`~mfcomm.learning.model_free.train_model_free` is the paper's method on one screen (Algorithm 1); the
equations it uses are :mod:`~mfcomm.learning.estimator` (the Gaussian perturbation, the Eq. 8 estimate and the loss
baselines), :mod:`~mfcomm.learning.feedback` (the feedback link: noisy, quantised, frames lost) and
:mod:`~mfcomm.learning.delay` (late losses and the correction for the policy's move since they were sent). Beside it,
:mod:`~mfcomm.learning.model_based` back-propagates through the channel. Both are written once for both tasks
(:mod:`~mfcomm.learning.examples`: what an example is and its loss) and share their loop's bookkeeping,
:class:`~mfcomm.learning.loop.Loop` (resume and checkpoints with :mod:`~mfcomm.learning.checkpointing`, the stop
rule of :mod:`~mfcomm.learning.stop_rule`, log rows, progress), and :mod:`~mfcomm.learning.lr_schedule`;
:mod:`~mfcomm.learning.seeding` holds every random generator. Outside this package,
:mod:`mfcomm.experiment.gradcheck` measures the estimate against the true gradient (Theorem 1) and
:mod:`mfcomm.experiment.candidates` tries several systems.

From the paper (Ait Aoudia & Hoydis, JSAC 2019, arXiv:1812.05929) to the code, names relative to mfcomm.learning:

| The paper | The code |
|---|---|
| Algorithm 1: receiver and transmitter steps in turn | `model_free.train_model_free` |
| Receiver step: the true gradient of the mean loss | `model_free.descend` on `examples.Symbols.loss` |
| The perturbation: a Gaussian policy around f_T(m), energy kept at 1 | `estimator.perturb`, `estimator.exploration` |
| The policy's log-density, log pi of x_p given xbar | `estimator.log_policy` |
| Eq. 8: the transmitter's gradient estimate from losses only | `estimator.surrogate` |
| Theorem 1: as sigma2 -> 0 the estimate tends to the true gradient | `estimator.sigma2_at`; `mfcomm gradcheck` |
| Feedback link: only the per-example losses travel back | `feedback.FeedbackLink` |
| (late feedback: losses that arrive K transmitter steps after their examples) | `delay.DelayLine` |
| (the staleness correction: importance weights pi_now / pi_sent) | `delay.LateEstimate` |
| Loss baselines: less variance, still unbiased | `estimator.LossBaseline` |
| Receiver fine-tuning: receiver steps only, at the end | `loop.Loop.fine_tuning` in `model_free.train_model_free` |
| Model-based training: the comparison, through the channel | `model_based.train_model_based` |
| (the loop's bookkeeping: checkpoints, stop rule, logs) | `loop.Loop` |

Example
-------
Every name of the table exists:

>>> import importlib, operator, re
>>> import mfcomm.learning
>>> rows = "\n".join(line for line in mfcomm.learning.__doc__.splitlines() if line.startswith("| "))
>>> named = re.findall(r"`(\w+)\.([\w.]+)`", rows)
>>> for module, name in named:
...     _ = operator.attrgetter(name)(importlib.import_module(f"mfcomm.learning.{module}"))
>>> len(named)
16
"""
