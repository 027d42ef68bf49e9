"""The fault suite's command-line table (docs/reliability.md): bad input to every command gets one line on
stderr naming the problem, exit status 2, no traceback, and no result directory.

Run in-process (``cli.main``) so that the whole table takes seconds; the faults that need real processes,
signals or a node ring are in test_resume.py, test_node_faults.py and test_channel_faults.py.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mfcomm import cli

BLACK_BOXES = {
    "shape.py": "def f(x):\n    return x[:, :1]\n",
    "dtype.py": "import numpy as np\ndef f(x):\n    return x.astype(np.complex128)\n",
    "nan.py": "import numpy as np\ndef f(x):\n    return np.full_like(x, np.nan)\n",
    "raises.py": "def f(x):\n    raise RuntimeError('radio unplugged')\n",
    "list.py": "def f(x):\n    return x.tolist()\n",
    "syntax.py": "def f(x:\n",
    "nofunc.py": "def g(x):\n    return x\n",
    "masked.py": "import numpy as np\ndef f(x):\n    return np.ma.masked_invalid(np.full_like(x, np.nan))\n",
}

# (case, arguments with {tmp} for the test's directory, what the one line must say)
TRAIN = [
    ("one message", "--messages 1", "messages"),
    ("no channel uses", "--channel-uses 0", "channel_uses"),
    ("NaN SNR", "--snr-db nan", "snr_db"),
    ("infinite SNR", "--snr-db inf", "snr_db"),
    ("SNR and Eb/N0 both", "--snr-db 3 --ebno-db 3", "not allowed with"),
    ("unknown channel", "--channel nosuch", "nosuch"),
    ("malformed chain", "--channel awgn|adc(bits=", "adc"),
    ("chain stage out of range", "--channel awgn|adc(bits=0)", "bits"),
    ("unknown chain stage", "--channel awgn|warp", "warp"),
    ("chain stage value that overflows", "--channel awgn|phase_noise(linewidth=1e308)", "linewidth"),
    ("TDL stage out of range", "--channel tdl(delay_spread=1e308)|awgn", "delay_spread"),
    ("missing black-box file", "--channel /nonexistent.py:f", "/nonexistent.py"),
    ("black box without the function", "--channel {tmp}/nofunc.py:f", "nofunc.py"),
    ("black box with a syntax error", "--channel {tmp}/syntax.py:f", "syntax.py"),
    ("black box: wrong shape", "--channel {tmp}/shape.py:f", "shape"),
    ("black box: wrong dtype", "--channel {tmp}/dtype.py:f", "dtype"),
    ("black box: NaN output", "--channel {tmp}/nan.py:f", "non-finite"),
    ("black box: NaN behind a mask", "--channel {tmp}/masked.py:f", "masked.py:f returned non-finite values"),
    ("black box raises", "--channel {tmp}/raises.py:f", "radio unplugged"),
    ("black box returns a list", "--channel {tmp}/list.py:f", "list.py"),
    ("model-based through a black box", "--method model-based --channel {tmp}/shape.py:f", "no gradient"),
    ("negative iterations", "--iterations -3", "iterations"),
    ("sigma2 out of (0, 1)", "--sigma2 2", "sigma2"),
    ("zero learning rate", "--rx-lr 0", "rx_lr"),
    ("zero feedback bits", "--feedback quantized --feedback-bits 0", "feedback_bits"),
    ("missing config file", "--config /nonexistent.toml", "/nonexistent.toml"),
    ("config: TOML syntax error", "--config {tmp}/broken.toml", "broken.toml"),
    ("config: unknown key", "--config {tmp}/unknown.toml", "colour"),
    ("config: wrong type", "--config {tmp}/wrongtype.toml", "messages"),
    ("config: a number as text", "--config {tmp}/text.toml", "snr_db: cannot use '10' (expected float | None)"),
    ("config: a directory", "--config {tmp}/mine", "mine is a directory: give the TOML file"),
    ("config: nested too deeply", "--config {tmp}/deep.toml", "deep.toml: values nested too deeply to read"),
    ("CUDA asked for, absent", "--device cuda:7", "cuda"),
    ("--init: missing run", "--init {tmp}/norun", "norun"),
    ("--out is a file", "--out {tmp}/broken.toml", "exists and is not a directory"),
    ("--out cannot be created", "--out /proc/mfcomm/run", "cannot write to --out"),
    ("--out holds a run", "--out {tmp}/done", "already holds a run"),
    ("--overwrite on a directory that is no run", "--out {tmp}/mine --overwrite", "holds no run"),
    ("--resume without a checkpoint", "--resume {tmp}/mine", "no checkpoint to resume from"),
    ("--resume with options", "--resume {tmp}/done --seed 3", "drop --seed"),
    ("--resume: a foreign checkpoint", "--resume {tmp}/foreign", "not an mfcomm checkpoint"),
    ("--resume: a malformed checkpoint", "--resume {tmp}/malformed", "a malformed checkpoint: parts is missing"),
]

OTHERS = [
    ("evaluate: missing run", "evaluate {tmp}/norun", "not found"),
    ("evaluate: not a finished run", "evaluate {tmp}/mine", "is missing"),
    ("evaluate: corrupt weights", "evaluate {tmp}/corrupt", "cannot load weights"),
    ("evaluate: empty SNR range", "evaluate {tmp}/done --snr-db 10:0:1", "snr"),
    ("evaluate: empty Eb/N0 range", "evaluate {tmp}/done --ebno-db 10:0:1", "Eb/N0 range '10:0:1': need A <= B"),
    ("evaluate: Eb/N0 not numbers", "evaluate {tmp}/done --ebno-db x", "Eb/N0 range 'x': expected A:B:STEP"),
    ("evaluate: Eb/N0 out of range", "evaluate {tmp}/done --ebno-db=-4000", "Eb/N0 range '-4000': each end"),
    (
        "evaluate: Eb/N0 on a channel with its own noise",
        "evaluate {tmp}/done --channel {tmp}/nan.py:f --ebno-db 3",
        "an Eb/N0 sweep does not apply",
    ),
    ("evaluate: non-finite weights", "evaluate {tmp}/nanweights", "holds values that are not finite"),
    (
        "evaluate: weights of another shape",
        "evaluate {tmp}/othershape",
        "cannot load weights (RuntimeError: Error(s) in loading",
    ),
    ("sweep: no trials", "sweep {tmp}/empty-sweep.toml --out {tmp}/g", "no trials: [grid] is empty or missing"),
    ("evaluate: zero target errors", "evaluate {tmp}/done --target-errors 0", "target-errors"),
    ("gradcheck: sigma2 out of (0, 1)", "gradcheck --sigma2 2 --out {tmp}/g", "sigma2"),
    ("gradcheck: batch sizes not numbers", "gradcheck --batch-sizes x --out {tmp}/g", "batch-sizes"),
    ("node: candidates", "node tx --candidates 2", "candidates"),
    ("node: bad address", "node tx --tx-addr nohost", "tx-addr"),
    ("node: a pipeline deeper than the ring queues", "node tx --feedback-delay 300", "at most 256 steps"),
    ("train: feedback loss of 1", "train --feedback-loss 1 --out {tmp}/g", "feedback_loss"),
    ("train: unknown staleness correction", "train --stale-correction magic --out {tmp}/g", "stale-correction"),
    ("train: empty --out", "train --out=", "argument --out: is empty"),
    ("train: --out with a control character", "train --out={tmp}/g\nh", "argument --out: holds a control character"),
    ("node all: empty --out", "node all --out=", "argument --out: is empty"),
    ("gradcheck: --out with a control character", "gradcheck --out={tmp}/g\x1b", "holds a control character"),
    ("sweep: empty --out", "sweep spec.toml --out=", "argument --out: is empty"),
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    """Black boxes, broken configs, a finished run (``done``), a corrupt one and a non-run directory."""
    tmp = tmp_path_factory.mktemp("faults")
    for name, text in BLACK_BOXES.items():
        (tmp / name).write_text(text)
    (tmp / "broken.toml").write_text("messages = [\n")
    (tmp / "unknown.toml").write_text("colour = 'blue'\n")
    (tmp / "wrongtype.toml").write_text("messages = 'sixteen'\n")
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("mine")
    assert (
        cli.main(
            [
                "train",
                "--iterations",
                "20",
                "--batch-size",
                "64",
                "--no-baseline",
                "--quiet",
                "--out",
                str(tmp / "done"),
            ]
        )
        == 0
    )
    (tmp / "corrupt").mkdir()
    for name in ("config.toml", "model.safetensors"):
        (tmp / "corrupt" / name).write_bytes((tmp / "done" / name).read_bytes()[:100])
    (tmp / "corrupt" / "config.toml").write_bytes((tmp / "done" / "config.toml").read_bytes())
    _bad_runs_and_files(tmp)
    return tmp


def _bad_runs_and_files(tmp: Path) -> None:
    """Runs whose weights are not finite or of another shape, foreign and malformed checkpoints, and bad configs."""
    weights = load_file(tmp / "done" / "model.safetensors")
    for name in ("nanweights", "othershape"):
        (tmp / name).mkdir()
        (tmp / name / "config.toml").write_bytes((tmp / "done" / "config.toml").read_bytes())
    first = next(iter(weights))
    save_file(
        {**weights, first: torch.full_like(weights[first], float("nan"))}, tmp / "nanweights" / "model.safetensors"
    )
    config = (tmp / "done" / "config.toml").read_text()
    (tmp / "othershape" / "config.toml").write_text(config.replace("messages = 16", "messages = 64"))
    save_file(weights, tmp / "othershape" / "model.safetensors")
    for name, state in (("foreign", {"weights": weights[first]}), ("malformed", {"format": 1, "iteration": 3})):
        (tmp / name).mkdir()
        torch.save(state, tmp / name / "checkpoint.pt")
    (tmp / "text.toml").write_text('snr_db = "10"\n')
    (tmp / "deep.toml").write_text("snr_db = " + "[" * 10_000 + "]" * 10_000 + "\n")
    (tmp / "empty-sweep.toml").write_text("[base]\niterations = 10\n[grid]\n")


def _one_line(capsys, argv: list[str], needle: str) -> str:
    try:
        code = cli.main(argv)
    except SystemExit as usage:  # argparse's own checks
        code = usage.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle.lower() in err.lower(), err
    return err


@pytest.mark.parametrize("case, args, needle", TRAIN, ids=[c[0] for c in TRAIN])
def test_train_fault(tmp, capsys, case, args, needle):
    argv = ["train", *args.format(tmp=tmp).split(" ")]
    out = tmp / f"out-{case.replace(' ', '_')}"
    argv += [] if "--out" in argv or "--resume" in argv else ["--out", str(out)]
    _one_line(
        capsys,
        argv + ["--iterations", "5", "--quiet"] * ("--iterations" not in args and "--resume" not in args),
        needle,
    )
    assert not out.exists()
    assert not list(tmp.glob(".out-*"))  # no staging folder left either


@pytest.mark.parametrize("case, args, needle", OTHERS, ids=[c[0] for c in OTHERS])
def test_other_command_fault(tmp, capsys, case, args, needle):
    _one_line(capsys, args.format(tmp=tmp).split(" "), needle)
    assert not (tmp / "g").exists()


def test_docs_list_every_case():
    """docs/reliability.md names every case of this table (the table there is the one users read)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    missing = [case for case, _, _ in TRAIN + OTHERS if f"| {case} |" not in doc]
    assert not missing
