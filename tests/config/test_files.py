"""Configuration: precedence, validation, TOML round trip."""

import pytest

from mfcomm.cli import main
from mfcomm.config.fields import Config
from mfcomm.config.files import configure, to_toml
from mfcomm.errors import ConfigError


def test_defaults_and_precedence(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("messages = 64\nchannel_uses = 1\nebno_db = 6.0\n")
    cfg = configure(path, {"channel_uses": 3, "iterations": None})
    assert (cfg.messages, cfg.channel_uses, cfg.ebno_db, cfg.iterations) == (64, 3, 6.0, Config.iterations)
    assert configure(path, {"snr_db": 3.0}).ebno_db is None  # a CLI SNR replaces the file's Eb/N0
    assert configure().snr_db == 10.0


def test_toml_round_trip(tmp_path):
    cfg = configure(overrides={"method": "model-based", "channel": "rbf", "rx_hidden": [64, 32], "sigma2": 0.05})
    path = tmp_path / "config.toml"
    path.write_text(to_toml(cfg))
    assert configure(path) == cfg


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"messages": 1}, "messages"),
        ({"channel_uses": 0}, "channel_uses"),
        ({"snr_db": float("nan")}, "snr_db"),
        ({"iterations": -3}, "iterations"),
        ({"sigma2": 1.0}, "sigma2"),
        ({"channel": "nosuch"}, "unknown channel"),
        ({"method": "model-based", "channel": "x.py:f"}, "no gradient"),
        ({"signalling": "real", "channel": "rbf"}, "real"),
        ({"messages": "sixteen"}, "messages"),
        ({"rx_lr": 0.0}, "rx_lr"),
    ],
)
def test_out_of_range_values_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        configure(overrides=overrides)
    assert "\n" not in str(err.value)


def test_unknown_key_in_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("mesages = 16\n")
    with pytest.raises(ConfigError, match="unknown key"):
        configure(path)
    with pytest.raises(ConfigError, match="not found"):
        configure(tmp_path / "none.toml")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"snr_db": "10"}, "snr_db: cannot use '10' (expected float | None)"),
        ({"messages": "16"}, "messages: cannot use '16' (expected int)"),
        ({"sigma2": b"0.1"}, "sigma2: cannot use b'0.1' (expected float | None)"),
        ({"rx_hidden": ["64"]}, "rx_hidden: cannot use ['64'] (expected list[int])"),
        ({"tx_hidden": [True]}, "tx_hidden: cannot use [True] (expected list[int])"),
        ({"messages": True}, "messages: cannot use True (expected int)"),
    ],
)
def test_a_number_given_as_text_is_refused_as_a_bool_is(overrides, message):
    with pytest.raises(ConfigError) as err:
        configure(**overrides)
    assert str(err.value) == message


def _cli_refuses(tmp_path, capsys, config, message: str) -> None:
    """``mfcomm train --config config`` fails with exit 2 and one line holding ``message``, and writes nothing."""
    out = tmp_path / "out"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err[:300]
    assert not out.exists()


def test_a_number_given_as_text_in_a_config_file_is_refused(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('snr_db = "10"\n')
    _cli_refuses(tmp_path, capsys, path, "error: snr_db: cannot use '10' (expected float | None)")


def test_a_config_that_is_a_directory_says_so(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    _cli_refuses(tmp_path, capsys, tmp_path / "run", f"config file {tmp_path / 'run'} is a directory")


@pytest.mark.parametrize("value", ["[" * 10_000 + "]" * 10_000, "{a = " * 10_000 + "1" + "}" * 10_000])
def test_a_deeply_nested_config_file_is_one_line(tmp_path, capsys, value):
    path = tmp_path / "c.toml"
    path.write_text(f"snr_db = {value}\n")
    _cli_refuses(tmp_path, capsys, path, "values nested too deeply to read")


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"snr_db": "9" * 10_000}, "snr_db"),
        ({"method": "m" * 10_000}, "method"),
        ({"device": "d" * 10_000}, "device"),
        ({"rx_hidden": list(range(10_000))}, "rx_hidden"),
        ({"channel": "c" * 10_000}, "unknown channel"),
        ({"messages": 10**400}, "messages"),
        ({"snr_db": [[[]]] * 1000}, "snr_db"),
    ],
)
def test_a_very_long_value_is_shortened_in_the_error(overrides, name):
    with pytest.raises(ConfigError, match=name) as err:
        configure(**overrides)
    assert len(str(err.value)) < 300 and "\n" not in str(err.value)
