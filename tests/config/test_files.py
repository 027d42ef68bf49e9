"""Configuration: precedence, validation, TOML round trip."""

import pytest

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
