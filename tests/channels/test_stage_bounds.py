"""Every numeric key of every chain stage has a range (:data:`mfcomm.channels.stage_bounds.BOUNDS`): a value just
outside it is refused in one line naming the stage and the key, each end builds (and a cheap stage runs on it), and a
chain stage whose buffers cannot fit in memory is refused before training, in the memory estimate's one line."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mfcomm import cli
from mfcomm.channels import chain
from mfcomm.channels.gnuradio import FLOWGRAPH, GnuRadioChannel
from mfcomm.channels.impairments import IMPAIRMENTS
from mfcomm.channels.stage_bounds import BOUNDS
from mfcomm.channels.stage_keys import OWN_KEYS, RADIO_KEYS
from mfcomm.channels.stream_model import BUILT_IN_KEYS
from mfcomm.config import memory
from mfcomm.config.files import configure
from mfcomm.errors import ChannelError

CONTEXT = {"gnuradio": "engine=python,", "gnuradio.samp_rate": "radio=true,engine=python,"}
"""Keys a stage is built with beside the one under test: the built-in channel model in this process (nothing starts
before the first call), and a radio for the radio's keys."""
CONTEXT["gnuradio.max_latency"] = CONTEXT["gnuradio.samp_rate"]
RUNS = {(name, key) for name, key in BOUNDS if name in IMPAIRMENTS} | {
    ("gnuradio", key) for key in ("payload", "sps", "rolloff", "seed")
}
"""The cheap stages and keys that also run at each end of their range."""


def _numeric(defaults: dict) -> set[str]:
    return {k for k, v in defaults.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def stage_keys() -> dict[tuple[str, str], type]:
    """Every numeric key of every stage, found from the stages themselves, with its type (int or float)."""
    found = {}
    for name in chain.STAGES:
        defaults = dict(chain.parameters(name))
        if name == "gnuradio":  # its own keys, a radio's and the built-in channel model's, by their defaults
            defaults = {**OWN_KEYS, **RADIO_KEYS, **BUILT_IN_KEYS}
        found |= {(name, key): type(defaults[key]) for key in _numeric(defaults)}
    return found


def test_every_numeric_stage_key_has_a_range_and_integer_keys_integer_ends():
    keys = stage_keys()
    assert _numeric(dict(chain.parameters("gnuradio"))) <= {key for name, key in keys if name == "gnuradio"}
    assert set(keys) == set(BOUNDS), "a stage key without a range, or a range for no key"
    for (name, key), kind in keys.items():
        low, high, interval = BOUNDS[name, key]
        assert low < high and interval in ("[]", "[)", "(]", "()"), (name, key)
        assert kind is not int or (isinstance(low, int) and isinstance(high, int) and interval == "[]"), (name, key)


def _spec(name: str, key: str, value: float | str) -> str:
    """The stage ``name`` with ``key=value`` (a number written exactly, or the text given) and its context."""
    context = CONTEXT.get(f"{name}.{key}", CONTEXT.get(name, ""))
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else repr(float(value))
    return f"{name}({context}{key}={text})"


def _beside(end: float, outward: int) -> float:
    """The value next to ``end`` on the side ``outward`` (+1 above, -1 below): one for an integer, else a
    millionth of it (of 1 at 0)."""
    if isinstance(end, int):
        return end + outward
    return end + outward * (abs(end) * 1e-6 or 1e-6)


def _ends() -> list:
    """(stage, key, value refused, value accepted) at each end of each range: at a closed end, the end is accepted
    and the value beyond it refused; at an open end, the end is refused and the value just inside accepted."""
    cases = []
    for (name, key), (low, high, interval) in sorted(BOUNDS.items()):
        for end, outward, closed in ((low, -1, interval[0] == "["), (high, 1, interval[1] == "]")):
            refused, accepted = (_beside(end, outward), end) if closed else (end, _beside(end, -outward))
            side = "low" if outward < 0 else "high"
            cases.append(pytest.param(name, key, refused, accepted, id=f"{name}-{key}-{side}"))
    return cases


@pytest.mark.parametrize("name, key, refused, accepted", _ends())
def test_just_outside_a_range_is_refused_in_one_line_and_its_end_builds(name, key, refused, accepted):
    with pytest.raises(ChannelError) as err:
        chain.build(_spec(name, key, refused), None)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"channel stage {name}: {key} must be in "), message
    stage = chain.build(_spec(name, key, accepted), None)
    if (name, key) in RUNS:
        x = torch.exp(2j * torch.pi * torch.rand(4, 2)).to(torch.complex64)
        y = stage(x)
        assert y.shape == x.shape and y.dtype == torch.complex64 and bool(torch.isfinite(torch.view_as_real(y)).all())


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("name, key", sorted(BOUNDS))
def test_nan_and_infinity_are_refused_when_parsed(name, key, text):
    with pytest.raises(ChannelError, match=f"channel stage {name}: {key} must be a finite number") as err:
        chain.parse(_spec(name, key, text))
    assert "\n" not in str(err.value)


def test_keys_for_a_users_flowgraph_are_the_flowgraphs_and_unbounded():
    """With ``flowgraph=PATH`` the built-in model's keys (and, without ``radio=true``, ``samp_rate``) are the
    flowgraph's options: mfcomm passes them on as given; its own keys stay bounded."""
    stage = GnuRadioChannel(flowgraph=str(FLOWGRAPH), snr_db=1e6, seed=-5, samp_rate=1e14)
    assert stage.options == ["--samp-rate=100000000000000", "--seed=-5", "--snr-db=1000000"]
    with pytest.raises(ChannelError, match="sps must be in"):
        GnuRadioChannel(flowgraph=str(FLOWGRAPH), sps=100)


def test_a_stage_out_of_range_is_refused_by_train_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["train", "--channel", "gnuradio(sps=1e9,engine=python)", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "mfcomm train: error: channel stage gnuradio: sps must be in [1, 64], not 1000000000"
    assert not out.exists()


# --- the memory the stages allocate ----------------------------------------------------------------------------


def test_the_estimate_of_a_default_config_is_unchanged_and_a_light_chain_adds_little():
    default = configure()
    assert default.channel == "awgn" and memory.channel_bytes(default) == 0
    light = dataclasses.replace(default, channel="rapp | awgn | adc")
    assert 0 < memory.channel_bytes(light) < memory.training_bytes(light) / 10


@pytest.mark.parametrize(
    "light, heavy",
    [
        ("gnuradio(engine=python)", "gnuradio(engine=python,sps=64)"),
        ("fiber", "fiber(spans=100,steps=1000)"),
        ("tdl", "tdl(delay_spread=1e-5)"),
    ],
)
def test_the_channel_estimate_grows_with_what_the_stage_allocates(light, heavy):
    cfg = configure()
    light_bytes = memory.channel_bytes(dataclasses.replace(cfg, channel=light))
    assert memory.channel_bytes(dataclasses.replace(cfg, channel=heavy)) > 4 * light_bytes > 0


def test_a_chain_stage_that_cannot_fit_in_memory_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 4 << 30)
    spec = "fiber(spans=100,steps=1000)"  # every key in range; the gradient's SSFM buffers about 9 GiB a batch
    assert memory.channel_bytes(dataclasses.replace(configure(), channel=spec)) > 8 << 30
    out = tmp_path / "out"
    assert cli.main(["train", "--channel", spec, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "GiB of memory" in err and "4 GiB available" in err and "through channel 'fiber(" in err, err
    assert "fewer fiber spans or steps" in err and not out.exists()
    configure(overrides={"channel": "fiber"})  # the default fiber fits
