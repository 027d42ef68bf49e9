"""One seed, one result: Sionna's field models (TDL, fibre) and the tutorial benchmark's recipe draw from
generators seeded from the run's seed, not from Sionna's own, which are seeded from entropy."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mfcomm.channels.spec import make_channel
from mfcomm.config.files import configure
from mfcomm.experiment.runs import train
from mfcomm.sionna_import import phy

FIELD_MODELS = ["tdl(model=A)", "tdl(model=C300,speed=30)", "fiber(power_dbm=-10,spans=2)"]


def _samples(spec: str, generator: torch.Generator | None) -> torch.Tensor:
    channel = make_channel(spec, None, generator)
    x = torch.ones(16, 4, dtype=torch.complex64)
    return torch.cat([channel(x), channel(x)])  # two calls: the stream goes on between them


@pytest.mark.parametrize("spec", FIELD_MODELS)
def test_field_models_give_the_same_samples_for_the_same_seed_and_others_for_another(spec):
    a, b, c = (_samples(spec, torch.Generator().manual_seed(seed)) for seed in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("spec", FIELD_MODELS)
def test_field_models_without_a_generator_follow_torchs_global_seed(spec):
    torch.manual_seed(5)
    a = _samples(spec, None)
    torch.manual_seed(5)
    assert torch.equal(a, _samples(spec, None))


def test_field_models_leave_sionnas_own_stream_as_it_was():
    sionna = phy().config.torch_rng("cpu")
    before = sionna.get_state()
    _samples(FIELD_MODELS[0], torch.Generator().manual_seed(0))
    assert torch.equal(sionna.get_state(), before)


@pytest.mark.parametrize("method", ["model-free", "model-based"])
def test_a_run_through_the_tdl_model_is_reproducible(method):
    overrides = {
        "channel": "tdl(model=A) | awgn",
        "channel_uses": 4,
        "snr_db": 20.0,
        "iterations": 10,
        "batch_size": 64,
        "method": method,
        "seed": 2,
    }
    a, b = (train(configure(overrides=overrides), quiet=True, evaluate=False) for _ in range(2))
    assert torch.equal(a.tx.codebook(), b.tx.codebook())
    assert all(torch.equal(p, q) for p, q in zip(a.rx.parameters(), b.rx.parameters(), strict=True))


def _without_timings(value: object) -> object:
    """``results.json`` less what depends on the clock."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in ("seconds", "time_ratio")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.mark.slow
def test_the_tutorial_benchmark_is_reproducible_for_a_seed(tmp_path):
    """Three runs of `--quick`, about a minute each on one CPU core."""
    script = Path(__file__).parents[2] / "benchmarks" / "tutorial.py"
    results = []
    for run, seed in enumerate((0, 0, 1)):
        out = tmp_path / str(run)
        subprocess.run(
            [sys.executable, str(script), "--quick", "--seed", str(seed), "--out", str(out)],
            check=True,
            capture_output=True,
        )
        results.append(_without_timings(json.loads((out / "results.json").read_text())))
    assert results[0] == results[1]
    assert results[0]["bmd_rate"]["tutorial recipe"] != results[2]["bmd_rate"]["tutorial recipe"]


def test_ser_probes_during_training_leave_the_trained_weights_as_they_were():
    """``ser_every`` measures SER on fresh channel outputs; the channel's generator is rewound afterwards, so
    the probes (which ASHA sweeps and the demo use) cannot change what is trained."""
    from mfcomm.config.files import configure
    from mfcomm.experiment import runs

    weights = []
    for every in (0, 50):
        cfg = configure(
            overrides={"iterations": 150, "batch_size": 256, "ser_every": every, "ser_messages": 4096, "seed": 2}
        )
        weights.append(runs.train(cfg, quiet=True, evaluate=False).tx.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize(
    "overrides",
    [
        {"method": "model-free"},
        {"method": "model-based"},
        {"task": "bits", "bits_per_symbol": 2, "codeword_bits": 40, "batch_size": 8, "finetune_iterations": 2},
    ],
)
def test_a_run_draws_from_its_own_streams_and_leaves_torchs_global_generator_alone(overrides):
    """Every path (model-free and model-based symbols, bits) draws from the run's own streams, seeded by its
    seed: torch's global state is the same after training as before, and what the caller drew from it before
    changes nothing in the run."""
    cfg = configure(overrides={"iterations": 5, "seed": 3, "compare_baseline": False, **overrides})

    def weights(global_seed: int) -> list[torch.Tensor]:
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        run = train(cfg, quiet=True, evaluate=False)
        assert torch.equal(torch.get_rng_state(), before)
        return [p.detach().clone() for p in (*run.tx.parameters(), *run.rx.parameters())]

    first, second = weights(0), weights(123)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
