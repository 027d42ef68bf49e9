"""No code from a run directory: a config file that names a Python channel (``PATH.py:FUNC``) is refused, in one
line naming the file and both remedies, unless the command line names the channel (``--channel``) or passes
``--trust-config``; the file is never imported when refused."""

from __future__ import annotations

import pytest
import tomli_w

from mfcomm.channels.spec import names_code
from mfcomm.cli import main
from mfcomm.config.files import configure, to_toml
from mfcomm.errors import ConfigError
from mfcomm.system.build import WEIGHTS, build_system, save_modules

BOX = """from pathlib import Path
Path(__file__).with_name("imported").write_text("box.py ran")
def f(x):
    return x
"""
RAISING = BOX + 'raise RuntimeError("stopped after the import")\n'
"""A black box that stops the command as soon as it is imported (so a test need not wait for training)."""
FAST_EVAL = ["--target-errors", "1", "--max-messages", "2048", "--quiet"]


@pytest.fixture
def box(tmp_path):
    """A black box that leaves ``imported`` beside it when imported; returns (its path, that marker)."""
    path = tmp_path / "box.py"
    path.write_text(BOX)
    return path, tmp_path / "imported"


def _run_dir(tmp_path, spec):
    """A finished run directory (config and weights, no training) whose config names ``spec``; M = 8 in n = 2 has
    no classical baseline, whose QAM would import Sionna (seconds)."""
    cfg = configure(overrides={"channel": spec, "messages": 8, "channel_uses": 2, "rx_hidden": [8], "init": "random"})
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text(to_toml(cfg))
    save_modules(out / WEIGHTS, dict(zip(("tx", "rx"), build_system(cfg, start=False), strict=True)))
    return out


def _refused(capsys, marker, *names):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--channel" in err and "--trust-config" in err and all(name in err for name in names), err
    assert not marker.exists()


def test_evaluate_refuses_a_run_whose_config_names_python_code(tmp_path, box, capsys):
    path, marker = box
    run = _run_dir(tmp_path, f"{path}:f")
    assert main(["evaluate", str(run), *FAST_EVAL]) == 2
    _refused(capsys, marker, str(path), str(run / "config.toml"))
    assert not (run / "ser.csv").exists()


def test_evaluate_runs_it_with_trust_config(tmp_path, box, capsys):
    path, marker = box
    run = _run_dir(tmp_path, f"{path}:f")
    assert main(["evaluate", str(run), "--trust-config", *FAST_EVAL]) == 0, capsys.readouterr().err
    assert marker.exists() and (run / "ser.csv").exists()


def test_evaluate_runs_it_when_the_command_line_names_it(tmp_path, box, capsys):
    path, marker = box
    run = _run_dir(tmp_path, f"{path}:f")
    assert main(["evaluate", str(run), "--channel", f"{path}:f", *FAST_EVAL]) == 0, capsys.readouterr().err
    assert marker.exists()


def test_evaluate_on_another_channel_never_imports_the_runs_code(tmp_path, box, capsys):
    path, marker = box
    run = _run_dir(tmp_path, f"{path}:f")
    assert main(["evaluate", str(run), "--channel", "awgn", "--snr-db", "10", *FAST_EVAL]) == 0, capsys.readouterr().err
    assert not marker.exists() and (run / "ser.csv").exists()


def test_train_node_and_gradcheck_refuse_such_a_config(tmp_path, box, capsys):
    path, marker = box
    cfg_file = _run_dir(tmp_path, f"{path}:f") / "config.toml"
    for command in (
        ["train", "--config", str(cfg_file), "--out", str(tmp_path / "out"), "--quiet"],
        ["node", "tx", "--config", str(cfg_file), "--state", str(tmp_path / "state"), "--quiet"],
        ["gradcheck", "--config", str(cfg_file), "--out", str(tmp_path / "gc"), "--quiet"],
    ):
        assert main(command) == 2, command
        _refused(capsys, marker, str(path))
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists()


def test_train_runs_the_code_the_command_line_names(tmp_path, box, capsys):
    path, marker = box
    raising = path.with_name("raising.py")
    raising.write_text(RAISING)
    cfg_file = _run_dir(tmp_path, f"{path}:f") / "config.toml"
    assert (
        main(
            ["train", "--config", str(cfg_file), "--channel", f"{raising}:f", "--out", str(tmp_path / "out"), "--quiet"]
        )
        == 2
    )
    assert "stopped after the import" in capsys.readouterr().err and marker.exists()  # named on the line: imported


def test_bitwise_train_and_evaluate_refuse_such_a_config(tmp_path, box, capsys):
    path, marker = box
    run = tmp_path / "bitwise-run"
    run.mkdir()
    cfg = configure(overrides={"task": "bits", "channel": f"{path}:f", "ebno_db": 6.0})
    (run / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    (run / "model.safetensors").write_bytes(b"")  # refused before the weights are read
    assert main(["bitwise", "train", "--config", str(run / "config.toml"), "--out", str(tmp_path / "o")]) == 2
    _refused(capsys, marker, str(path))
    assert main(["bitwise", "evaluate", str(run), "--quiet"]) == 2
    _refused(capsys, marker, str(path))


def test_resolve_trusts_the_command_line_and_trust_but_not_the_file(tmp_path, box):
    path, marker = box
    cfg_file = _run_dir(tmp_path, f"{path}:f") / "config.toml"
    with pytest.raises(ConfigError, match="--trust-config"):
        configure(cfg_file)
    assert configure(cfg_file, trust=True).channel == f"{path}:f"
    assert configure(cfg_file, {"channel": f"{path}:g"}).channel == f"{path}:g"
    assert configure(cfg_file, {"channel": "awgn"}).channel == "awgn"
    assert not marker.exists()  # resolving never imports


@pytest.mark.parametrize(
    "spec, code",
    [
        ("awgn", False),
        ("rbf", False),
        ("rapp(p=2) | awgn | adc(bits=3)", False),
        ("box.py:f", True),
        ("awgn | box.py:f", True),
        ("dir/x.txt:f", True),
        ("nosuch", False),
    ],
)
def test_every_spec_that_make_channel_would_import_counts_as_code(spec, code):
    """``make_channel`` imports every spec with ``:`` that is not a chain, so all of those count as code."""
    assert names_code(spec) is code


# --- these need the edits outside this change's files (see the report): cmd_train and cmd_node pass
# --trust-config on, initial_system.start_run and runs.load take trust -----------------------------------


def test_train_runs_a_config_it_is_told_to_trust(tmp_path, box, capsys):
    path, marker = box
    path.write_text(RAISING)
    cfg_file = _run_dir(tmp_path, f"{path}:f") / "config.toml"
    assert main(["train", "--config", str(cfg_file), "--trust-config", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "stopped after the import" in capsys.readouterr().err and marker.exists()  # trusted: imported


def test_init_from_such_a_run_reads_its_weights_only(tmp_path, box):
    path, marker = box
    run = _run_dir(tmp_path, f"{path}:f")
    cfg = configure(
        overrides={"init": str(run), "messages": 8, "channel_uses": 2, "rx_hidden": [8], "equalizer": "on"}
    )  # the same shape as the black-box run
    tx, _ = build_system(cfg)
    assert tx.embedding.weight.shape == (8, 4) and not marker.exists()


def _bitwise_run_dir(tmp_path, spec):
    from mfcomm.experiment.tasks import TASKS

    cfg = configure(
        overrides={
            "task": "bits",
            "channel": spec,
            "ebno_db": 6.0,
            "bits_per_symbol": 2,
            "codeword_bits": 120,
            "rx_hidden": [8],
            "init": "random",
        }
    )  # qam would import Sionna (seconds)
    run = tmp_path / "bitwise-run"
    run.mkdir()
    (run / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    const, demapper = TASKS["bits"].build(cfg)
    save_modules(run / WEIGHTS, {"const": const, "demapper": demapper})
    return run


def test_bitwise_evaluate_with_trust_config_and_export_load_such_a_run(tmp_path, box, capsys, monkeypatch):
    from mfcomm.experiment import coded_sweep

    path, marker = box
    run = _bitwise_run_dir(tmp_path, f"{path}:f")
    assert main(["bitwise", "export", str(run)]) == 0, capsys.readouterr().err  # weights only: no code runs
    assert not marker.exists()
    monkeypatch.setattr(coded_sweep, "coded_sweep", lambda run, *args, **kwargs: {})  # the sweep is tested elsewhere
    assert main(["bitwise", "evaluate", str(run), "--trust-config", "--quiet"]) == 0, capsys.readouterr().err
