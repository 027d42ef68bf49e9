"""Late and lost feedback (:mod:`mfcomm.learning.delay`, :class:`mfcomm.learning.feedback.FeedbackLink`).

What is checked: the staleness correction's mean against a closed-form gradient (and that the check sees the bias
of no correction), the exact schedules of the delay line and of the frames lost, that lost frames only shrink the
batch, that K = 0 changes nothing, that a late, lossy run resumes bit for bit, that a diverged loss is not taken
for a lost one, and that training through lossy, late, 1-bit feedback still learns.
"""

import io
import itertools
import math

import pytest
import torch

from mfcomm.config.files import configure
from mfcomm.errors import DivergedError
from mfcomm.experiment.runs import train
from mfcomm.learning.delay import DelayLine, InFlight, LateEstimate
from mfcomm.learning.estimator import LossBaseline, perturb, surrogate
from mfcomm.learning.examples import Symbols
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.system.transmitter import Transmitter

# --- 1. the staleness correction is unbiased: brute force against a closed-form gradient ---------------------------

SIGMA2, REPEATS, BATCH, MOVE = 0.1, 100, 4096, 0.1
"""Policy variance, independent batches, examples per batch (each of the 4 messages BATCH / 4 times), and the
standard deviation of the random move of the transmitter's raw weights between sending and updating."""


def _stale_gradients(correction: str) -> dict[str, torch.Tensor]:
    """``REPEATS`` independent late estimates of the gradient of E_now[ |x - t_m|^2 ] for ``Transmitter(4, 1)``:
    the examples drawn from the policy before a fixed random move of its weights, the estimate formed after it.

    Returns the estimates' mean and standard error per coordinate of the transmitter's parameters, the true
    gradient at the moved policy (closed form, by autograd), and the importance weights' mean effective sample size
    as a fraction of the batch (1 when no weights are applied)."""
    torch.manual_seed(0)
    tx = Transmitter(4, 1)
    targets = torch.complex(torch.randn(4, 1), torch.randn(4, 1))  # t_m, fixed
    cfg = configure(
        overrides={
            "messages": 4,
            "channel_uses": 1,
            "loss_baseline": "none",
            "stale_correction": correction,
            "stale_clip": 1e6,
        }
    )
    m = torch.arange(4).repeat(BATCH // 4)
    exploration = torch.Generator().manual_seed(1)
    with torch.no_grad():
        xbar_sent = tx(m)
    steps: list[InFlight] = []
    for _ in range(REPEATS):  # sent by the old policy, losses on their way
        x_p = perturb(xbar_sent, SIGMA2, generator=exploration)
        losses = (x_p - targets[m]).abs().square().sum(dim=1)
        line = DelayLine(1)
        assert line.push(m, x_p, xbar_sent, SIGMA2, False, fed_back=losses) == []
        steps += line.drain()
    with torch.no_grad():  # the policy moves (K updates happen) before the losses arrive
        move = torch.Generator().manual_seed(2)
        for p in tx.parameters():
            p.add_(MOVE * torch.randn(p.shape, generator=move))
    params = list(tx.parameters())
    estimate = LateEstimate(tx, Symbols(4), LossBaseline("none", 4), cfg)
    grads, ess = [], []
    for step in steps:
        late = estimate(step, step.fed_back, SIGMA2)
        assert late is not None and late.messages == BATCH
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(late.surrogate, params)]))
        w = late.weights
        ess.append(1.0 if w is None else float(w.sum() ** 2 / w.square().sum()) / w.numel())
    # E_now |sqrt(1 - s2) mu_m + w - t_m|^2 = |sqrt(1 - s2) mu_m - t_m|^2 + s2, averaged over the 4 messages
    mu = tx(torch.arange(4))
    exact = (math.sqrt(1 - SIGMA2) * mu - targets).abs().square().sum(dim=1).mean() + SIGMA2
    true = torch.cat([g.flatten() for g in torch.autograd.grad(exact, params)])
    g = torch.stack(grads).double()
    return {"mean": g.mean(0), "se": g.std(0) / math.sqrt(REPEATS), "true": true.double(), "ess": sum(ess) / len(ess)}


@pytest.fixture(scope="module")
def importance():
    return _stale_gradients("importance")


def test_importance_weighted_late_estimate_is_unbiased(importance):
    """Eq. 8 on losses of examples the policy sent before it moved, weighed by pi_now / pi_sent (clip out of reach),
    has the gradient of the *moved* policy's expected loss as its mean: E_sent[w l grad log pi_now] = grad E_now[l].

    Bound: the REPEATS estimates are independent (fresh perturbations each), so by the CLT their mean is normal with
    the standard error estimated from their spread (std / sqrt(REPEATS)); |mean - true| < 4 SE per coordinate has
    a false-failure chance of about 1e-4 per coordinate (t with 99 degrees of freedom), 1e-3 over the 8 coordinates.
    The move keeps the importance weights usable (effective sample size over half the batch), so the normal
    approximation of the mean holds."""
    r = importance
    assert r["ess"] > 0.5, r["ess"]
    z = (r["mean"] - r["true"]) / r["se"]
    assert bool((z.abs() < 4).all()), z


def test_the_same_check_catches_stale_losses_taken_as_fresh(importance):
    """The same check, on the same examples (same seeds), without the correction (``stale_correction = none``):
    the log-derivative at the moved mean averaged over the old policy's samples is biased, so some coordinate
    lies outside its interval; here far outside, as the move is large against the standard error. This shows the
    first test could fail."""
    r = _stale_gradients("none")
    assert r["ess"] == 1.0  # no weights applied
    assert torch.allclose(r["true"], importance["true"])  # the same policy, the same truth
    z = (r["mean"] - r["true"]) / r["se"]
    assert float(z.abs().max()) > 4, z
    assert float(z.abs().max()) > 10 * float(((importance["mean"] - importance["true"]) / importance["se"]).abs().max())


# --- 2. the delay line's schedule ----------------------------------------------------------------------------------


def _push(line: DelayLine, i: int, generator: torch.Generator) -> list[InFlight]:
    """Send step ``i``: 3 messages tagged ``i``, 2 channel uses, with a random transmitter output and losses."""
    xbar = torch.randn(3, 2, dtype=torch.complex64, generator=generator).requires_grad_()
    x_p = perturb(xbar, 0.1, generator=generator)
    return line.push(
        torch.full((3,), i), x_p, xbar, 0.1, False, tag=(i, 0), fed_back=torch.rand(3, generator=generator)
    )


@pytest.mark.parametrize("k", [0, 1, 3])
def test_delay_line_delivers_step_i_at_push_i_plus_k_and_round_trips(k):
    """Step i's losses arrive at push i + K, the last K come out of ``drain()`` oldest first; a held step keeps
    what Eq. 8 needs (its sent log-density when delayed, its graph only without delay); and the steps in flight
    survive ``torch.save`` / ``torch.load(weights_only=True)`` of the state dict, tensor for tensor, so that a
    checkpoint resumes them."""
    n, g = 7, torch.Generator().manual_seed(3)
    line = DelayLine(k)
    for i in range(1, n + 1):
        out = _push(line, i, g)
        assert [s.tag for s in out] == ([[i - k, 0]] if i > k else []), (i, out)
        for s in out:
            assert torch.equal(s.labels, torch.full((3,), i - k))
            if k == 0:
                assert s.xbar is not None and s.xbar.requires_grad and s.log_pi.numel() == 0
            else:
                assert s.xbar is None and s.log_pi.shape == (3,)
    assert [s.tag[0] for s in line.steps] == list(range(n - k + 1, n + 1))

    buffer = io.BytesIO()
    torch.save(line.state_dict(), buffer)
    buffer.seek(0)
    copy = DelayLine(0)
    copy.load_state_dict(torch.load(buffer, weights_only=True))
    assert copy.delay == k and len(copy.steps) == len(line.steps) == k
    for a, b in zip(copy.steps, line.steps, strict=True):
        assert a.tag == b.tag and a.sigma2 == b.sigma2 and a.xbar is None and b.xbar is None
        for name in ("labels", "x_p", "log_pi", "fed_back"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    drained = line.drain()
    assert [s.tag for s in drained] == [[i, 0] for i in range(n - k + 1, n + 1)]
    assert line.drain() == [] and [s.tag for s in copy.drain()] == [s.tag for s in drained]


def test_delayed_step_keeps_the_sent_policy_log_density():
    """With delay, a step keeps log pi_sent(x_p) (with its normalising constant) of the policy that sent it: the
    importance weight's denominator, computed before the transmitter moves."""
    g = torch.Generator().manual_seed(4)
    xbar = torch.randn(5, 2, dtype=torch.complex64, generator=g)
    x_p = perturb(xbar, 0.2, generator=g)
    line = DelayLine(2)
    line.push(torch.arange(5), x_p, xbar, 0.2, False)
    [step] = line.drain()
    d = (x_p - math.sqrt(0.8) * xbar).abs().square().sum(dim=1)
    assert torch.allclose(step.log_pi, -d / 0.2 - 2 * math.log(math.pi * 0.2))


# --- 3. the loss schedule of the feedback link ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, frame, k, examples",
    [("perfect", 10, 4, 52), ("quantized", 10, 4, 52), ("quantized", 6, 3, 30), ("perfect", 0, 2, 40)],
)
def test_lost_losses_are_whole_frames_drawn_from_the_generator(kind, frame, k, examples):
    """The NaN losses are exactly the frames for which ``torch.rand(frames, generator=same seed) < p``; a frame is
    ``frame`` rounded down to whole messages (0: the whole batch), so no message's K losses are split;
    ``frames_lost`` and ``frames_sent`` count them and quantised feedback costs bits * n + 32 * 2**bits per frame
    (its cells' means)."""
    p, bits = 0.4, 3
    link = FeedbackLink(kind, bits, generator=torch.Generator().manual_seed(5), loss=p, frame=frame, perturbations=k)
    reference = torch.Generator().manual_seed(5)
    size = max(k, frame - frame % k) if frame else examples
    frames = -(-examples // size)
    lost_total = sent_bits = 0
    for _ in range(20):
        losses = torch.rand(examples) * 3
        out = link(losses)
        lost = torch.rand(frames, generator=reference) < p
        expected = lost.repeat_interleave(size)[:examples]
        assert torch.equal(out.isnan(), expected)
        rows = out.view(-1, k).isnan()
        assert bool((rows.all(dim=1) | ~rows.any(dim=1)).all())  # a message's K losses: all lost or all arrived
        lost_total += int(lost.sum())
        sent_bits += bits * examples + 32 * 2**bits * frames if kind == "quantized" else 32 * examples
        lossless = FeedbackLink(kind, bits, frame=frame, perturbations=k)(losses)
        assert torch.equal(out[~expected], lossless[~expected])  # what arrived is what a lossless link carries
    assert 0 < lost_total < 20 * frames  # both kinds happened
    assert link.frames_lost == lost_total and link.frames_sent == 20 * frames
    assert link.bits_sent == sent_bits


def _old_link(kind: str, losses: torch.Tensor, bits: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """The feedback link before frames were lost: the same formulas, written out."""
    if kind == "perfect":
        return losses
    if kind == "noisy":
        return losses + noise * torch.randn(losses.shape, generator=generator)
    low, high = losses.min(), losses.max()
    step = torch.clamp(high - low, min=torch.finfo(losses.dtype).tiny) / 2**bits
    return low + (torch.clamp(torch.floor((losses - low) / step), 0, 2**bits - 1) + 0.5) * step


@pytest.mark.parametrize("kind", ["perfect", "quantized", "noisy"])
def test_lossless_link_draws_nothing_and_is_unchanged(kind):
    """With p = 0 the link draws nothing for losses (the generator's state is that of the kind's own draws: none but
    noisy's noise), loses nothing, and gives the old link's output (uniform cells, as quantised feedback was); so
    runs without ``feedback_loss`` are as before."""
    g, reference = torch.Generator().manual_seed(6), torch.Generator().manual_seed(6)
    link = FeedbackLink(kind, 2, 0.3, g, loss=0.0, frame=8, perturbations=2, cells="uniform")
    for _ in range(3):
        losses = torch.rand(64)
        assert torch.equal(link(losses), _old_link(kind, losses, 2, 0.3, reference))
    assert torch.equal(g.get_state(), reference.get_state())
    assert link.frames_lost == 0 and link.frames_sent == 3 * 8
    if kind == "perfect":
        assert torch.equal(g.get_state(), torch.Generator().manual_seed(6).get_state())  # not consumed at all


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_quantile_cells_send_each_loss_as_the_mean_of_its_equal_count_cell(bits):
    """``cells = quantile``: the batch sorted and cut into 2**bits runs of equal length, each loss replaced by its
    run's mean (written out here with sort and chunk); 1 bit is above or below the median. The link's mean loss is
    the batch's (cell means keep sums), which the uniform midpoints do not."""
    g = torch.Generator().manual_seed(8)
    losses = torch.rand(64, generator=g).square() * 5  # skewed, as cross-entropies are
    order = losses.argsort()
    expected = torch.empty_like(losses)
    for chunk in order.chunk(2**bits):
        expected[chunk] = losses[chunk].mean()
    link = FeedbackLink("quantized", bits, cells="quantile")
    out = link(losses)
    assert torch.allclose(out, expected) and len(out.unique()) == 2**bits
    assert torch.isclose(out.mean(), losses.mean())
    assert link.bits_sent == bits * 64 + 32 * 2**bits


def test_fraction_of_frames_lost_matches_p():
    """Over many batches the fraction of frames lost lies in the 99.9% normal-approximation interval of p:
    p +- 3.29 sqrt(p (1 - p) / frames) (fixed seed; frames ~ 10^4, so the approximation is good)."""
    p = 0.1
    link = FeedbackLink(loss=p, frame=16, generator=torch.Generator().manual_seed(7))
    for _ in range(200):
        link(torch.rand(800))
    assert link.frames_sent == 200 * 50
    half = 3.29 * math.sqrt(p * (1 - p) / link.frames_sent)
    assert abs(link.frames_lost / link.frames_sent - p) < half, (link.frames_lost, link.frames_sent)


# --- 4. lost losses only shrink the batch --------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", ["none", "batch"])
def test_estimate_with_lost_frames_is_the_estimate_on_what_arrived(baseline):
    """Without delay, ``LateEstimate`` on a step with lost frames equals Eq. 8 formed by hand on the messages whose
    losses arrived, with the baseline among them (same surrogate, same gradient, same mean loss): lost frames,
    drawn independently of the losses, only make the batch smaller, so the estimate stays unbiased. Nothing back:
    None (no update)."""
    torch.manual_seed(8)
    k, sigma2 = 2, 0.1
    tx = Transmitter(8, 2)
    cfg = configure(overrides={"messages": 8, "perturbations": k, "loss_baseline": baseline})
    m = torch.randint(8, (32,))
    xbar = tx(m.repeat_interleave(k))
    x_p = perturb(xbar, sigma2, perturbations=k)
    link = FeedbackLink(loss=0.5, frame=8, perturbations=k, generator=torch.Generator().manual_seed(9))
    fed_back = link(torch.rand(64))
    [step] = DelayLine(0).push(m, x_p, xbar, sigma2, tx.real, fed_back=fed_back)
    late = LateEstimate(tx, Symbols(8), LossBaseline(baseline, 8), cfg)(step, fed_back, sigma2)

    kept = ~fed_back.view(-1, k).isnan().any(dim=1)
    assert 0 < int(kept.sum()) < 32  # some frames lost, some arrived
    rows = fed_back.view(-1, k)[kept]
    per_example = kept.repeat_interleave(k)
    by_hand = surrogate(
        rows - LossBaseline(baseline, 8)(rows, m[kept]), x_p[per_example], xbar[per_example], sigma2, tx.real
    )
    assert late is not None and late.messages == int(kept.sum()) and late.weights is None
    assert torch.allclose(late.mean_loss, rows.mean())
    assert torch.allclose(late.surrogate, by_hand)
    params = list(tx.parameters())
    ours = torch.autograd.grad(late.surrogate, params, retain_graph=True)
    theirs = torch.autograd.grad(by_hand, params)
    assert all(torch.allclose(a, b) for a, b in zip(ours, theirs, strict=True))

    everything_lost = FeedbackLink(loss=1.0, frame=8, perturbations=k, generator=torch.Generator().manual_seed(9))
    nothing = everything_lost(torch.rand(64))
    assert bool(nothing.isnan().all())
    [step] = DelayLine(0).push(m, x_p, tx(m.repeat_interleave(k)), sigma2, tx.real, fed_back=nothing)
    assert LateEstimate(tx, Symbols(8), LossBaseline(baseline, 8), cfg)(step, nothing, sigma2) is None


# --- 5, 6, 8. trainings ----------------------------------------------------------------------------------------------

SHORT = {
    "channel": "awgn",
    "messages": 16,
    "channel_uses": 2,
    "snr_db": 10.0,
    "iterations": 40,
    "batch_size": 256,
    "threads": 1,
}
"""Short trainings, on one CPU thread: small batches gain nothing from more, and lose much to a busy machine."""


def _weights(run) -> dict[str, torch.Tensor]:
    return {
        **{f"tx.{k}": v for k, v in run.tx.state_dict().items()},
        **{f"rx.{k}": v for k, v in run.rx.state_dict().items()},
    }


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_no_delay_is_todays_training_bit_for_bit():
    """``feedback_delay = 0`` is the default's training exactly (same weights, same log rows): K = 0 takes the
    undelayed path (the step's own graph, no weights). K = 2 changes the run, so the comparison can fail."""
    unset = train(configure(overrides=SHORT), quiet=True, evaluate=False)
    zero = train(configure(overrides={**SHORT, "feedback_delay": 0}), quiet=True, evaluate=False)
    late = train(configure(overrides={**SHORT, "feedback_delay": 2}), quiet=True, evaluate=False)
    assert unset.cfg.delay == zero.cfg.delay == 0 and late.cfg.delay == 2
    assert _same(_weights(unset), _weights(zero))
    drop = "seconds"
    assert [{k: v for k, v in r.items() if k != drop} for r in unset.metrics] == [
        {k: v for k, v in r.items() if k != drop} for r in zero.metrics
    ]
    assert not _same(_weights(unset), _weights(late))


# --- 7. a diverged loss ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_diverged_loss_is_not_mistaken_for_a_lost_one(bad):
    """NaN means "lost" once the link has carried a loss, so a non-finite loss handed to it is divergence, raised
    at once (else it would be dropped as a lost frame and training would go on on the rest)."""
    with pytest.raises(DivergedError):
        FeedbackLink()(torch.tensor([1.0, bad]))
    with pytest.raises(DivergedError):
        FeedbackLink(loss=0.5, generator=torch.Generator().manual_seed(0))(torch.tensor([1.0, bad]))


def test_training_through_lossy_late_one_bit_feedback_still_learns():
    """Training from a random codebook with 1-bit quantised feedback that arrives 8 transmitter steps late, 10% of
    its frames lost, ends far better than chance (SER 15/16) and than the same run whose transmitter does not learn
    (its receiver alone learns to decode the random codebook): the transmitter learns through that feedback. Its
    ``metrics.csv`` counts the frames lost, growing row after row, about 10% of those sent."""
    lossy_late = {
        **SHORT,
        "iterations": 300,
        "init": "random",
        "tx_warmup": 0,
        "feedback": "quantized",
        "feedback_bits": 1,
        "feedback_delay": 8,
        "feedback_loss": 0.1,
        "feedback_frame": 32,
        "compare_baseline": False,
    }
    run = train(configure(overrides=lossy_late), quiet=True)
    frozen = train(configure(overrides={**lossy_late, "tx_lr": 1e-9}), quiet=True)
    assert run.ser.ci_high < 0.1 < 15 / 16, run.ser
    assert run.ser.ci_high < 0.5 * frozen.ser.ci_low, (run.ser, frozen.ser)
    lost = [r["feedback_frames_lost"] for r in run.metrics if "feedback_frames_lost" in r]
    assert len(lost) == 30 and lost[0] > 0 and all(b > a for a, b in itertools.pairwise(lost))
    assert 0.05 < lost[-1] / (300 * 8) < 0.15  # 300 steps of 8 frames (32 of the 256 losses each)


def test_the_bits_task_takes_late_and_lost_feedback_per_symbol():
    """In the bits task an example is a symbol, not a codeword: the delay line keeps one log-density per symbol,
    and whole frames of symbols' losses are lost (the steps ran, and at K = 0 with nothing lost the weights equal
    those of the plain run: the late path changes nothing it should not)."""
    bits = {"task": "bits", "bits_per_symbol": 2, "codeword_bits": 40, "batch_size": 8, "iterations": 6}
    common = {**bits, "compare_baseline": False, "threads": 1}
    line = DelayLine(1)
    x_p = torch.ones(8, 20, dtype=torch.complex64)
    line.push(torch.zeros(8, 20, 2), x_p, x_p, 0.1, False, count=160)
    assert line.steps[0].x_p.shape == (160, 1) and line.steps[0].log_pi.shape == (160,)
    late = train(
        configure(overrides={**common, "feedback_delay": 2, "feedback_loss": 0.3, "feedback_frame": 8}),
        quiet=True,
        evaluate=False,
    )
    assert max(row.get("feedback_frames_lost", 0) for row in late.metrics) > 0
    plain = train(configure(overrides=common), quiet=True, evaluate=False)
    zero = train(configure(overrides={**common, "feedback_delay": 0}), quiet=True, evaluate=False)
    assert _same(_weights(plain), _weights(zero)) and not _same(_weights(plain), _weights(late))


@pytest.mark.parametrize(
    "correction, delay, weighted",
    [("auto", 32, False), ("auto", 33, True), ("none", 128, False), ("importance", 1, True)],
)
def test_auto_weighs_late_losses_only_beyond_32_steps(correction, delay, weighted):
    """``stale_correction = auto`` (the default) is ``none`` up to K = 32 and ``importance`` beyond, as measured
    best (docs/results/feedback.md); the other two always do as they say."""
    from mfcomm.config.fields import Config

    tx = Transmitter(4, 1)
    cfg = Config(messages=4, channel_uses=1, feedback_delay=delay, stale_correction=correction)
    line, m = DelayLine(delay), torch.arange(4)
    xbar = tx(m)
    steps = [line.push(m, perturb(xbar, 0.1), xbar, 0.1, False, fed_back=torch.rand(4)) for _ in range(delay + 1)]
    estimate = LateEstimate(tx, Symbols(4), LossBaseline("batch", 4), cfg)(steps[-1][0], torch.rand(4), 0.1)
    assert (estimate.weights is not None) == weighted
