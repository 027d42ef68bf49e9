"""Each configuration option is declared once, on its field (:func:`mfcomm.config.option.option`): every numeric
field has a range, every choice field its words, every flag its help; the command line of ``mfcomm train`` and
``mfcomm node`` and the checks' bounds are generated from those declarations, so an option cannot be half added."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from mfcomm.cli import build_parser
from mfcomm.cli.options import EXCLUSIVE, ebno_db, flag, training_options
from mfcomm.config.checks import BOUNDS, CHOICES, LENGTHS, validate
from mfcomm.config.fields import FIELDS, Config
from mfcomm.config.files import configure
from mfcomm.config.ofdm_checks import OFDM_ONLY
from mfcomm.config.option import declared
from mfcomm.config.recipes import OFDM_DEFAULTS
from mfcomm.errors import ConfigError

FREE_TEXT = {"channel", "init", "device"}
"""The text fields whose words are open: a channel spec, a run directory, a device name."""
BY_HAND = {"-h", "--help", "--config", "--trust-config"}
"""The options of ``training_options`` that are no field."""
ON, SWITCH = "--NAME/--no-NAME", "--NAME"
TODAY: dict[str, object] = {
    "--task": ("symbols", "bits"),
    "--method": ("model-free", "model-based"),
    "--recipe": ("default", "paper"),
    "--channel": str,
    "--messages": int,
    "--channel-uses": int,
    "--snr-db": float,
    "--ebno-db": ebno_db,
    "--signalling": ("complex", "real"),
    "--normalization": ("average", "per-message"),
    "--bits-per-symbol": int,
    "--codeword-bits": int,
    "--code-rate": float,
    "--iterations": int,
    "--finetune-iterations": int,
    "--batch-size": int,
    "--sigma2": float,
    "--sigma2-final": float,
    "--tx-batch-size": int,
    "--perturbations": int,
    "--antithetic": SWITCH,
    "--loss-baseline": ("none", "batch", "message", "running"),
    "--feedback": ("perfect", "noisy", "quantized"),
    "--feedback-bits": int,
    "--feedback-noise": float,
    "--rx-steps": int,
    "--rx-on-tx-batch": ON,
    "--tx-steps": int,
    "--rx-lr": float,
    "--tx-lr": float,
    "--rx-lr-final": float,
    "--equalizer": ("auto", "on", "off"),
    "--init": str,
    "--lr-schedule": ("constant", "cosine"),
    "--tx-warmup": int,
    "--lr-final-ratio": float,
    "--candidates": int,
    "--candidate-iterations": int,
    "--patience": int,
    "--stop-early": SWITCH,
    "--seed": int,
    "--device": str,
    "--channel-timeout": float,
    "--checkpoint-every": int,
    "--log-every": int,
}
"""The configuration options ``mfcomm train`` and ``mfcomm node`` took before they were generated: their values'
type, their words, or the kind of switch."""
NUMERIC = [f for f in FIELDS.values() if "int" in str(f.type) or "float" in str(f.type)]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    training_options(p)
    return p


def _default(f: dataclasses.Field) -> object:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


@pytest.mark.parametrize("f", NUMERIC, ids=lambda f: f.name)
def test_every_numeric_field_has_a_range_its_default_is_within(f):
    bound = declared(f).bound
    assert bound is not None, f"{f.name} has no range: give option(default, low, high)"
    low, high, interval = bound
    assert low < high and interval in ("[]", "(]", "[)", "()")
    assert ("list" in str(f.type)) == (declared(f).items > 0), f"{f.name}: a list field needs items=, no other"
    for value in _default(f) if isinstance(_default(f), list) else [_default(f)]:
        assert value is None or low <= value <= high, f"{f.name}: default {value} out of [{low}, {high}]"
    assert BOUNDS[f.name] == bound and LENGTHS.get(f.name, 0) == declared(f).items


@pytest.mark.parametrize("f", list(FIELDS.values()), ids=lambda f: f.name)
def test_only_numbers_have_a_range_and_every_choice_field_its_words(f):
    o = declared(f)  # every field is declared with option(): a KeyError here is a field declared without it
    assert (o.bound is not None) == (f in NUMERIC)
    if f.type == "str" and f.name not in FREE_TEXT:
        assert o.choices, f"{f.name} takes one of a few words: give option(..., choices=(...))"
        assert f.default in o.choices and CHOICES[f.name] == o.choices
    elif f.name in OFDM_ONLY and f.type == "str | None":  # None: not the OFDM task's; its default is OFDM_DEFAULTS'
        assert f.default is None and OFDM_DEFAULTS[f.name] in o.choices and CHOICES[f.name] == o.choices
    else:
        assert not o.choices and f.name not in CHOICES


@pytest.mark.parametrize("f", [f for f in FIELDS.values() if declared(f).flag], ids=lambda f: f.name)
def test_every_flag_has_a_short_help(f):
    text = declared(f).help
    assert text and "\n" not in text and len(text) <= 100, f"{flag(f.name)} needs a short one-line help"
    assert "default" not in text or f.default is None, f"{flag(f.name)}: the default is added from the field"


def test_the_generated_options_are_the_declared_flags():
    p = _parser()
    options = {s for a in p._actions for s in a.option_strings}
    flags = {flag(f.name) for f in FIELDS.values() if declared(f).flag}
    negated = {f"--no-{flag(f.name)[2:]}" for f in FIELDS.values() if declared(f).flag and f.default is True}
    assert options == BY_HAND | flags | negated
    generated = [a for a in p._actions if not set(a.option_strings) & BY_HAND]
    assert [a.dest for a in generated] == [f.name for f in FIELDS.values() if declared(f).flag]  # in field order
    for a in generated:
        f, kind = FIELDS[a.dest], str(FIELDS[a.dest].type)
        assert a.choices == (declared(f).choices or None) and a.default is None
        expected = {"int": int, "float": float, "str": str}.get(kind.removesuffix(" | None"))
        assert a.type is expected or a.dest == "ebno_db" or kind == "bool", (a.dest, a.type, kind)
    assert vars(p.parse_args([])) == {"config": None, "trust_config": False} | {a.dest: None for a in generated}
    [group] = p._mutually_exclusive_groups
    assert [a.dest for a in group._group_actions] == list(EXCLUSIVE)


def test_every_option_of_train_and_node_before_the_generation_is_still_there_as_it_was():
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in ("train", "node"):
        actions = {a.option_strings[0]: a for a in commands[command]._actions if a.option_strings}
        for option, was in TODAY.items():
            a = actions[option]
            if was in (ON, SWITCH):
                assert a.option_strings == ([option, f"--no-{option[2:]}"] if was == ON else [option]), option
                assert a.nargs == 0 and a.default is None, option
            elif isinstance(was, tuple):  # words may be added, none taken away or reordered
                assert a.choices[: len(was)] == was and a.type is str, option
            else:
                assert a.type is was and a.choices is None, option
    args = _parser().parse_args(["--ebno-db", "4:8", "--antithetic", "--no-rx-on-tx-batch", "--patience", "5"])
    assert (args.ebno_db, args.antithetic, args.rx_on_tx_batch, args.patience) == ((4.0, 8.0), True, False, 5)


def test_the_help_states_the_defaults_of_the_fields_and_of_the_bits_task():
    text = " ".join(_parser().format_help().split())
    for said in (
        "--messages MESSAGES M, number of messages (default: 16)",
        "(default: model-free)",
        "(default: 1024; bits task: 128)",
        "(bits task: 4:8)",
        "(default: on)",
        "1% better",
    ):
        assert said in text, said


@pytest.mark.parametrize("f", NUMERIC, ids=lambda f: f.name)
def test_every_declared_range_is_checked(f):
    _, high, _ = declared(f).bound
    bad = high * 2 if high > 0 else high + 1
    value = [bad] if "list" in str(f.type) else bad
    with pytest.raises(ConfigError, match=f"{f.name}( item)? must be a finite number in") as err:
        validate(dataclasses.replace(Config(snr_db=10.0), **{f.name: value}))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_every_choice_field_refuses_another_word_in_one_line(name):
    with pytest.raises(ConfigError, match=f"^{name} must be") as err:
        configure(overrides={name: "nosuch"})
    assert "\n" not in str(err.value)


def test_mfcomm_builds_its_options_without_importing_torch():
    code = "import sys, mfcomm.cli; mfcomm.cli.build_parser(); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
