"""Bounds: every numeric option is finite and within a sane range, and a batch with networks that cannot fit in
memory is refused with the estimate; each refusal is exit status 2 with one line on stderr, before anything runs
or is written."""

from __future__ import annotations

import dataclasses
import math

import pytest

from mfcomm.cli import main
from mfcomm.config.checks import BOUNDS, check_number
from mfcomm.config.fields import Config
from mfcomm.config.files import configure, to_toml
from mfcomm.config.memory import training_bytes
from mfcomm.errors import ConfigError
from mfcomm.system.build import WEIGHTS, build_system, save_modules


def _refused(capsys, *words):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(word in err for word in words), err
    return err


@pytest.mark.parametrize(
    "option, value, name",
    [
        ("--batch-size", "1000000000", "batch_size"),
        ("--tx-batch-size", "1000000000", "tx_batch_size"),
        ("--snr-db", "inf", "snr_db"),
        ("--snr-db", "nan", "snr_db"),
        ("--ebno-db=-1e308", None, "ebno_db"),
        ("--snr-db", "400", "snr_db"),
        ("--channel-timeout", "inf", "channel_timeout"),
        ("--channel-timeout", "nan", "channel_timeout"),
        ("--sigma2", "nan", "sigma2"),
        ("--sigma2-final", "inf", "sigma2_final"),
        ("--rx-lr", "inf", "rx_lr"),
        ("--tx-lr", "nan", "tx_lr"),
        ("--lr-final-ratio", "nan", "lr_final_ratio"),
        ("--feedback-noise", "inf", "feedback_noise"),
        ("--iterations", "10000000000", "iterations"),
        ("--finetune-iterations", "10000000000", "finetune_iterations"),
        ("--perturbations", "100000", "perturbations"),
        ("--messages", "100000", "messages"),
        ("--channel-uses", "100000", "channel_uses"),
        ("--seed", "-1", "seed"),
        ("--seed", str(2**64), "seed"),
        ("--rx-steps", "1000000", "rx_steps"),
        ("--tx-steps", "1000000", "tx_steps"),
        ("--tx-warmup", "-1", "tx_warmup"),
        ("--candidates", "1000", "candidates"),
        ("--candidate-iterations", "0", "candidate_iterations"),
        ("--patience", "10000000000", "patience"),
        ("--checkpoint-every", "10000000000", "checkpoint_every"),
        ("--feedback-bits", "64", "feedback_bits"),
    ],
)
def test_train_option_out_of_range_is_refused(tmp_path, capsys, option, value, name):
    assert main(["train", option, *([value] if value else []), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    _refused(capsys, name, "must be a finite number in")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, name",
    [
        ("rx_hidden = [100000000]", "rx_hidden"),
        ("tx_hidden = [64, 100000000]", "tx_hidden"),
        ("rx_hidden = [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]", "rx_hidden"),
        ("batch_size = 1e9", "batch_size"),
        ("snr_db = inf", "snr_db"),
        ("snr_db = nan", "snr_db"),
        ("channel_timeout = inf", "channel_timeout"),
        ("eval_messages = 1e15", "eval_messages"),
        ("eval_max_messages = 1e15", "eval_max_messages"),
        ("eval_target_errors = 0", "eval_target_errors"),
        ("ser_messages = 1e12", "ser_messages"),
        ("selection_messages = 1e12", "selection_messages"),
        ("log_every = 0", "log_every"),
        ("ser_every = -10", "ser_every"),
        ("snr_db = 1" + "0" * 400, "snr_db"),
        ("batch_size = 1" + "0" * 400, "batch_size"),
    ],
)
def test_config_file_value_out_of_range_is_refused(tmp_path, capsys, text, name):
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = _refused(capsys, name)
    assert len(err) < 400  # a 400-digit number is not echoed in full
    assert not (tmp_path / "out").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, capsys):
    path = tmp_path / "c.toml"  # every value in range; together about 2^54 bytes (16 PiB) of activations
    path.write_text("batch_size = 16777216\nperturbations = 1024\nmessages = 65536\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    _refused(capsys, "GiB of memory", "available", "batch_size")
    assert not (tmp_path / "out").exists()


def test_memory_estimate_grows_with_batch_perturbations_and_widths():
    small = configure(overrides={"messages": 16, "channel_uses": 2})
    assert 1 << 20 < training_bytes(small) < 1 << 30  # the default system trains in well under 1 GiB
    for change in ({"batch_size": 1 << 14}, {"perturbations": 64}, {"rx_hidden": [4096, 4096]}, {"messages": 4096}):
        assert training_bytes(dataclasses.replace(small, **change)) > 4 * training_bytes(small), change


def test_every_numeric_field_has_a_bound():
    numeric = {f.name for f in dataclasses.fields(Config) if "int" in f.type or "float" in f.type}
    assert numeric == set(BOUNDS)


@pytest.mark.parametrize(
    "value, interval, ok",
    [
        (0.0, "[]", True),
        (1.0, "[)", False),
        (0.0, "(]", False),
        (math.nan, "[]", False),
        (math.inf, "[]", False),
        (-math.inf, "[]", False),
        (10**400, "[]", False),
        (True, "[]", False),
        ("1", "[]", False),
    ],
)
def test_check_number(value, interval, ok):
    if ok:
        check_number("x", value, 0.0, 1.0, interval)
    else:
        with pytest.raises(ConfigError, match="x must be a finite number in"):
            check_number("x", value, 0.0, 1.0, interval)


@pytest.mark.parametrize(
    "args, name",
    [
        (["--batch-size", "100000000"], "batch_size"),
        (["--sigma2", "nan"], "sigma2"),
        (["--rx-lr", "inf"], "rx_lr"),
        (["--code-rate", "nan"], "code_rate"),
        (["--ebno-db", "inf"], "ebno_db"),
        (["--ebno-db", "0:1e308"], "ebno_db_max"),
        (["--codeword-bits", "100000000"], "codeword_bits"),
        (["--seed", "-1"], "seed"),
        (["--batch-size", "1048576", "--codeword-bits", "1048576", "--bits-per-symbol", "2"], "GiB of memory"),
    ],
)
def test_bitwise_train_option_out_of_range_is_refused(tmp_path, capsys, args, name):
    assert main(["bitwise", "train", *args, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    _refused(capsys, name)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args", [["--max-blocks", str(10**12)], ["--target-block-errors", "0"], ["--target-block-errors", str(10**12)]]
)
def test_bitwise_evaluate_option_out_of_range_is_refused(tmp_path, capsys, args):
    assert main(["bitwise", "evaluate", str(tmp_path), *args]) == 2
    _refused(capsys, args[0])


# --- options checked outside a config: node, gradcheck and evaluate --------------------------------------------


def _not_reached(*args, **kwargs):
    raise AssertionError("an out-of-range option reached the work")


@pytest.mark.parametrize(
    "option, value",
    [
        ("--peer-timeout", "inf"),
        ("--peer-timeout", "nan"),
        ("--peer-timeout", "1e9"),
        ("--max-message-mb", "inf"),
        ("--max-message-mb", "nan"),
        ("--max-message-mb", "1e12"),
    ],
)
def test_node_option_out_of_range_is_refused(tmp_path, capsys, monkeypatch, option, value):
    from mfcomm.nodes import node

    monkeypatch.setattr(node, "run_node", _not_reached)
    assert main(["node", "tx", option, value, "--state", str(tmp_path / "state"), "--quiet"]) == 2
    _refused(capsys, option)


def test_node_options_validate_their_numbers():
    from mfcomm.nodes.link import NodeOptions

    for options in (
        NodeOptions(peer_timeout=math.inf),
        NodeOptions(peer_timeout=math.nan),
        NodeOptions(max_bytes=1 << 50),
    ):
        with pytest.raises(ConfigError):
            options.validate()


@pytest.mark.parametrize(
    "args, name",
    [
        (["--trials", "1000000000"], "--trials"),
        (["--pretrain-iterations", "10000000000"], "--pretrain-iterations"),
        (["--batch-sizes", "64,1e12"], "--batch-sizes"),
        (["--sigma2", "0.1,nan"], "--sigma2"),
        (["--target-cosine", "nan"], "--target-cosine"),
    ],
)
def test_gradcheck_option_out_of_range_is_refused(tmp_path, capsys, monkeypatch, args, name):
    from mfcomm.experiment import gradcheck

    monkeypatch.setattr(gradcheck, "run_gradcheck", _not_reached)
    assert main(["gradcheck", *args, "--out", str(tmp_path / "gc"), "--quiet"]) == 2
    _refused(capsys, name)


@pytest.mark.parametrize(
    "args, name",
    [
        (["--target-errors", str(10**30)], "--target-errors"),
        (["--max-messages", str(10**30)], "--max-messages"),
        (["--snr-db=-4000"], "-4000"),
        (["--snr-db", "0:1e308:1e307"], "1e308"),
        (["--ebno-db=-4000"], "-4000"),
    ],
)
def test_evaluate_option_out_of_range_is_refused(tmp_path, capsys, monkeypatch, args, name):
    from mfcomm.experiment import snr_sweep as sweep

    cfg = configure(overrides={"messages": 4, "channel_uses": 1, "rx_hidden": [8]})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(to_toml(cfg))
    save_modules(run / WEIGHTS, dict(zip(("tx", "rx"), build_system(cfg, start=False), strict=True)))
    monkeypatch.setattr(sweep, "evaluate_run", _not_reached)
    assert main(["evaluate", str(run), *args, "--quiet"]) == 2
    _refused(capsys, name)
