"""The public API (``import mfcomm``): a curated ``__all__``, no global state changed at import, and
``train(cfg, channel=obj)`` with a channel object equal, bit for bit, to the same channel named by a file."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import mfcomm
from mfcomm.errors import ChannelError, ConfigError

SMALL = {"messages": 4, "channel_uses": 1, "iterations": 30, "compare_baseline": False, "candidates": 1}
CHANNEL = """
import numpy as np

rng = np.random.default_rng(5)


def awgn10(x):
    noise = rng.normal(scale=0.2236, size=(*x.shape, 2)) @ np.array([1, 1j])
    return (x + noise).astype(np.complex64)
"""


def test_curated_api():
    assert sorted(mfcomm.__all__) == sorted(
        ["Config", "Run", "SerEstimate", "channels", "configure", "evaluate", "load", "save", "train"]
    )
    assert all(hasattr(mfcomm, name) for name in mfcomm.__all__)


def test_import_changes_no_global_state():
    code = textwrap.dedent("""
        import sys, matplotlib, torch
        backend, state = matplotlib.rcParams._get("backend"), torch.random.get_rng_state()
        import mfcomm
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        assert matplotlib.rcParams._get("backend") == backend, "backend changed"
        assert torch.equal(torch.random.get_rng_state(), state), "torch's generator changed"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_channel_object_trains_as_the_same_function_from_a_file(tmp_path):
    (tmp_path / "box.py").write_text(CHANNEL)
    named = mfcomm.train(mfcomm.configure(**SMALL, channel=f"{tmp_path / 'box.py'}:awgn10"), quiet=True)
    namespace: dict = {}
    exec(CHANNEL, namespace)  # a fresh copy of the same function, its generator at the same start
    given = mfcomm.train(mfcomm.configure(**SMALL), channel=namespace["awgn10"], quiet=True)
    assert given.cfg.channel == "object:awgn10"
    for a, b in ((named.tx, given.tx), (named.rx, given.rx)):
        for (key, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), key
    assert named.ser == given.ser and named.channel_uses_spent == given.channel_uses_spent


def test_object_run_saves_loads_and_evaluates_on_the_object_again(tmp_path):
    generator = torch.Generator().manual_seed(0)
    channel = mfcomm.channels.contract.AWGN(0.1, generator)
    run = mfcomm.train(mfcomm.configure(**SMALL, method="model-based"), channel=channel, quiet=True)
    mfcomm.save(run, tmp_path / "run")
    loaded = mfcomm.load(tmp_path / "run")  # an object names no code: no trust needed
    assert loaded.cfg.channel == "object:awgn"
    with pytest.raises(ChannelError, match=r"was a Python object given to mfcomm\.train"):
        mfcomm.evaluate(loaded)
    (row,) = mfcomm.evaluate(loaded, channel=channel, target_errors=100, max_messages=200_000)
    assert row["ci_low"] <= row["ser"] <= row["ci_high"] and row["messages"] > 0


def test_model_based_needs_a_differentiable_object():
    with pytest.raises(ConfigError, match="model-based training needs a differentiable channel"):
        mfcomm.train(mfcomm.configure(**SMALL, method="model-based"), channel=lambda x: x, quiet=True)


def test_evaluate_sweeps_snr_with_the_baseline():
    run = mfcomm.train(mfcomm.configure(**SMALL, snr_db=8.0), quiet=True)
    rows = mfcomm.evaluate(run, snr_db=[4.0, 8.0], target_errors=50, max_messages=100_000)
    assert [r["snr_db"] for r in rows] == [4.0, 8.0]
    assert all(r["baseline"] == "QPSK" and "baseline_closed_form" in r for r in rows)
    assert rows[0]["ser"] >= rows[1]["ser"] * 0.5  # a coarse sanity check; SER falls with SNR
    assert np.isfinite([r["ser"] for r in rows]).all()


def test_evaluate_is_seeded_by_the_run_and_serves_both_tasks():
    """The same call gives the same rows (the run's own streams), whatever torch's global generator holds; a
    bits run gives its BMD rate and Gray QAM's per Eb/N0."""
    run = mfcomm.train(mfcomm.configure(**SMALL, snr_db=8.0), quiet=True)
    torch.manual_seed(1)
    first = mfcomm.evaluate(run, snr_db=[8.0], target_errors=50, max_messages=100_000)
    torch.manual_seed(2)
    assert mfcomm.evaluate(run, snr_db=[8.0], target_errors=50, max_messages=100_000) == first
    bits = mfcomm.configure(task="bits", bits_per_symbol=2, codeword_bits=40, batch_size=8, iterations=5,
                            finetune_iterations=2, ebno_db=6.0, eval_ebno_db=[6.0])  # fmt: skip
    rows = mfcomm.evaluate(mfcomm.train(bits, quiet=True))
    assert [r["ebno_db"] for r in rows] == [6.0]
    assert 0.0 < rows[0]["bmd_rate"] <= 2.0 and 0.0 < rows[0]["baseline_bmd_rate"] <= 2.0
