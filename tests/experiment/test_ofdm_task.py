"""The OFDM task end to end: the command line, its files and one-line errors, each way of training (model-free,
model-based, a black box on grids, the time domain), reproducibility, and a pilotless system on a flat channel
that resolves the channel's phase by itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import mfcomm
from mfcomm.experiment.ofdm_task import grid_of, link_of
from mfcomm.system.bitwise import bits_to_indices

pytestmark = pytest.mark.integration

SMALL = {"task": "ofdm", "subcarriers": 12, "checkpoint_every": 0, "finetune_iterations": 0, "batch_size": 8}


def mfcomm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfcomm.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_cli_trains_an_ofdm_run_with_its_baselines(tmp_path):
    out = tmp_path / "run"
    done = mfcomm_cli(
        "train", "--task", "ofdm", "--subcarriers", "12", "--iterations", "20", "--finetune-iterations", "0",
        "--ebno-db", "12", "--quiet", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OFDM model-free, pilots kronecker: coded BLER" in done.stdout
    assert "baseline 16-QAM, kronecker pilots, LS, LMMSE, APP" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["systems"]) == {
        "learned",
        "16-QAM, perfect CSI, LMMSE, APP",
        "16-QAM, kronecker pilots, LS, LMMSE, APP",
    }
    assert summary["data_resource_elements"] == 144 and summary["channel_uses_spent"] == 20 * 32 * 168  # batch 32
    for name in ("bler.png", "constellation.png", "constellation.csv", "model.safetensors", "config.toml"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoint.pt").exists()
    again = mfcomm.load(out)  # the weights read back into the task's networks
    assert again.rx.data_mask.sum() == 144


@pytest.mark.parametrize(
    "args, words",
    [
        (["--channel", "cdl(model=Z) | awgn"], "channel stage cdl: model must be one of"),
        (["--channel", "rbf"], "over OFDM use tdl or cdl"),
        (["--pilots", "none", "--task", "bits"], "pilots belongs to the ofdm task"),
        (["--domain", "time", "--channel", "cdl | awgn"], "frequency domain only"),
        (["--codeword-bits", "100"], "drop codeword_bits"),
    ],
)
def test_bad_ofdm_options_are_one_line(tmp_path, args, words):
    done = mfcomm_cli("train", "--task", "ofdm", *args, "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode != 0 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "r").exists()


def short_run(**overrides: object) -> mfcomm.Run:
    return mfcomm.train(mfcomm.configure(overrides={**SMALL, "iterations": 6, **overrides}), quiet=True, evaluate=False)


def test_same_seed_same_system_and_model_based_moves_the_constellation():
    a, b = short_run(seed=3), short_run(seed=3)
    assert torch.equal(a.tx.raw, b.tx.raw) and all(
        torch.equal(p, q) for p, q in zip(a.rx.state_dict().values(), b.rx.state_dict().values(), strict=True)
    )
    start = mfcomm.configure(overrides={**SMALL, "method": "model-based"})
    based = short_run(method="model-based", tx_lr=0.05)
    assert not torch.equal(based.tx.raw, mfcomm.experiment.ofdm_task.OfdmTask().build(start)[0].raw)


def test_black_box_on_grids_and_the_time_domain(tmp_path):
    box = tmp_path / "box.py"
    box.write_text(
        textwrap.dedent(
            """
            import numpy as np
            def channel(x):
                assert x.shape[1] == 14 * 12  # one row per slot, its grid OFDM symbol after OFDM symbol
                rng = np.random.default_rng(0)
                noise = (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) * 0.1
                return (x * np.exp(0.3j) + noise).astype(np.complex64)
            """
        )
    )
    run = short_run(channel=f"{box}:channel")
    assert run.channel_uses_spent == 6 * 8 * 168
    timed = short_run(channel="tdl(model=C,speed=30) | cfo(offset=0.01) | awgn | adc(bits=6)", domain="time")
    assert torch.isfinite(timed.tx.points()).all()


@pytest.mark.slow
@pytest.mark.xfail(
    reason="pilotless training does not reach it yet: measured a mean uncoded BER of 0.11, worst slot 0.18 at 18 dB "
    "(no rotated slot, which would be near 0.5; docs/ofdm.md)",
    strict=False,
)
def test_pilotless_system_on_a_flat_channel_has_no_phase_ambiguity():
    """Flat Rayleigh fading (TDL-A at 1 ns of delay spread, static): with no pilots a 4-fold symmetric QAM leaves the
    receiver a phase it cannot resolve, so a quarter of the slots at best would decode; the learned constellation
    breaks the symmetry. Every one of 400 fresh slots at 18 dB decodes with an uncoded BER below 5%."""
    cfg = mfcomm.configure(
        overrides={
            **SMALL,
            "pilots": "none",
            "channel": "tdl(model=A,delay_spread=1e-9) | awgn",
            "ebno_db": 10.0,
            "ebno_db_max": 18.0,
            "iterations": 1500,
            "finetune_iterations": 300,
            "batch_size": 32,
            "init": "random",
        }
    )
    run = mfcomm.train(cfg, quiet=True, evaluate=False)
    grid = grid_of(cfg)
    link = link_of(cfg, grid, torch.Generator().manual_seed(9))
    link.ebno_db = (18.0, 18.0)
    bits = torch.randint(0, 2, (400, grid.data, 4), generator=torch.Generator().manual_seed(10)).float()
    with torch.no_grad():
        y, n0 = link(run.tx(bits_to_indices(bits)))
        per_slot = ((run.rx(y, n0) > 0).float() != bits).float().mean(dim=(1, 2))
    assert per_slot.max() < 0.05, (per_slot.mean(), per_slot.max())


def test_sweep_refuses_the_ofdm_task_in_one_line(tmp_path):
    """Sweeps measure the symbols task's SER: an OFDM (or bits) trial is refused when the spec is read, not after
    each trial fails on a summary without an SER."""
    from mfcomm.errors import ConfigError
    from mfcomm.tune import spec

    path = tmp_path / "sweep.toml"
    path.write_text('[base]\ntask = "ofdm"\n[grid]\npilots = ["kronecker", "none"]\n')
    with pytest.raises(ConfigError, match="measures the symbols task's SER, not task ofdm"):
        spec.parse(path)
