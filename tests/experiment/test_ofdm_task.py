"""The OFDM task end to end: the command line, its files and one-line errors, each way of training (model-free,
model-based, a black box on grids, the time domain, a GNU Radio flowgraph there), reproducibility, and a pilotless
system on a flat channel that resolves the channel's phase by itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import mfcomm
from mfcomm.channels.flowgraph_process import has_gnuradio
from mfcomm.cli import main
from mfcomm.experiment.ofdm_task import grid_of, link_of
from mfcomm.system.bitwise import bits_to_indices, indices_to_bits

pytestmark = pytest.mark.integration

SMALL = {"task": "ofdm", "subcarriers": 12, "checkpoint_every": 0, "finetune_iterations": 0, "batch_size": 8}


def mfcomm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfcomm.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_cli_trains_an_ofdm_run_with_its_baselines(tmp_path):
    out, config = tmp_path / "run", tmp_path / "eval.toml"
    config.write_text("eval_ebno_db = [4.0]\n")  # every system's BLER is 1 there: 100 slots each, a quick measurement
    done = mfcomm_cli(
        "train", "--config", str(config), "--task", "ofdm", "--subcarriers", "12", "--iterations", "20",
        "--finetune-iterations", "0", "--ebno-db", "12", "--quiet", "--out", str(out), cwd=tmp_path,
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
    for name in (
        "bler.png",
        "constellation.png",
        "receiver.png",
        "constellation.csv",
        "model.safetensors",
        "config.toml",
    ):
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
        (["--code-rate", "0.99"], "5G LDPC codes take rates from 1/5 to 0.95"),
    ],
)
def test_bad_ofdm_options_are_one_line(tmp_path, capsys, args, words):
    assert main(["train", "--task", "ofdm", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def short_run(**overrides: object) -> mfcomm.Run:
    return mfcomm.train(mfcomm.configure(overrides={**SMALL, "iterations": 6, **overrides}), quiet=True, evaluate=False)


def test_a_cdl_run_is_saved_with_its_figures_and_evaluate_refuses_it_in_one_line(tmp_path, capsys):
    """A chain with a grid-only stage (``cdl``) trains and is written out: no single-carrier parsing of it on the
    way (the spectrum figure is for single-carrier flowgraphs)."""
    run = short_run(channel="cdl(model=C,delay_spread=300e-9,speed=30) | awgn", iterations=2)
    mfcomm.experiment.runs.save(run, tmp_path / "r")
    assert {"summary.json", "model.safetensors", "config.toml"} <= {p.name for p in (tmp_path / "r").iterdir()}
    assert not (tmp_path / "r" / "spectrum.png").exists()
    assert main(["evaluate", str(tmp_path / "r")]) == 2  # measured when it trains: one line, nothing written
    err = capsys.readouterr().err
    assert "is an OFDM run, measured when it trains" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r" / "ser.csv").exists()


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


@pytest.mark.slow  # about 2 minutes
def test_pilotless_system_on_a_flat_channel_has_no_phase_ambiguity():
    """Flat fading (TDL-A at 1 ns of delay spread, static, each slot at unit energy and its own phase): with no
    pilots a 4-fold symmetric QAM leaves the receiver a quarter turn it cannot resolve, so about 3 slots in 4 would
    be read turned; the superimposed pilot breaks the symmetry. On 400 fresh slots at 18 dB, every slot's
    decisions agree with the bits sent better than with the bits of the sent symbols turned by 90, 180 or 270
    degrees (the labels of the points nearest to them), and the mean uncoded BER is below 2% (a symmetric QAM read
    at a random quarter turn: about 37%)."""
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
        }
    )
    run = mfcomm.train(cfg, quiet=True, evaluate=False)
    grid = grid_of(cfg)
    link = link_of(cfg, grid, torch.Generator().manual_seed(9))
    link.ebno_db = (18.0, 18.0)
    bits = torch.randint(0, 2, (400, grid.data, 4), generator=torch.Generator().manual_seed(10)).float()
    with torch.no_grad():
        x = run.tx(bits_to_indices(bits))
        y, n0 = link(x)
        decided = (run.rx(y, n0) > 0).float()
        points = run.tx.points()
        turned = [(x.unsqueeze(-1) * 1j**k - points).abs().argmin(dim=-1) for k in (1, 2, 3)]
    per_slot = (decided != bits).float().mean(dim=(1, 2))
    per_turn = [(decided != indices_to_bits(t, 4)).float().mean(dim=(1, 2)) for t in turned]
    assert all(bool((per_slot < ber).all()) for ber in per_turn), [int((per_slot >= b).sum()) for b in per_turn]
    assert per_slot.mean() < 0.02, (per_slot.mean(), per_slot.max())


@pytest.mark.skipif(not has_gnuradio(), reason="GNU Radio is not installed (scripts/install-gnuradio.sh)")
def test_a_gnuradio_flowgraph_in_the_time_domain_carries_the_grid_and_trains():
    """OFDM-modulated slots through GNU Radio's channel model (one tap, no noise, no synchronisation) come back,
    demodulated, as the grid sent times the tap: the flowgraph's stream lines up with the OFDM symbols to the
    sample. Then a short model-free run trains through it with the run's noise."""
    flowgraph = "gnuradio(snr_db=100,taps=0.6+0.3j,sync=none)"
    cfg = mfcomm.configure(overrides={**SMALL, "channel": flowgraph, "domain": "time", "channel_timeout": 20})
    grid = grid_of(cfg)
    x = torch.exp(2j * torch.pi * torch.rand(3, grid.data, generator=torch.Generator().manual_seed(0)))
    y, _ = link_of(cfg, grid, torch.Generator().manual_seed(1))(x.to(torch.complex64))
    assert torch.allclose(y, (0.6 + 0.3j) * grid.map(x.to(torch.complex64)), atol=1e-3)
    run = short_run(channel="gnuradio(snr_db=100,taps=0.6+0.3j) | awgn", domain="time", channel_timeout=20)
    assert run.channel_uses_spent == 6 * 8 * 168 and torch.isfinite(run.tx.points()).all()


@pytest.mark.slow
def test_a_5g_sized_grid_trains_and_codes_each_slot_in_two_blocks():
    """51 resource blocks at 30 kHz (a 20 MHz carrier): 612 x 14 with Kronecker pilots, 14688 information bits a
    slot, more than one 5G code block carries, so two; two iterations on the CPU, one Eb/N0 point."""
    overrides = {**SMALL, "subcarriers": 612, "iterations": 2, "eval_ebno_db": [30.0], "compare_baseline": False}
    run = mfcomm.train(mfcomm.configure(overrides=overrides), quiet=True)
    (point,) = run.coded["learned"]
    assert point.bits == point.blocks * 14688 and point.blocks >= 100
