"""Any flowgraph as the channel (:mod:`mfcomm.channels.gnuradio`'s contract): the test flowgraph
``flowgraphs/relay.py`` (ZMQ PULL -> multiply_const(--gain) -> ZMQ PUSH, and faults on request), the examples'
``.grc`` files, every way a flowgraph can fail, and the trust a config file's flowgraph needs. The tests that run
GNU Radio are skipped when the system Python has none (run ``make gnuradio``)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mfcomm import cli
from mfcomm.channels import chain, flowgraph_process, gnuradio
from mfcomm.channels.flowgraph_process import gnuradio_python, has_gnuradio
from mfcomm.channels.gnuradio import GnuRadioChannel
from mfcomm.channels.spec import absolute_paths, make_channel, names_code
from mfcomm.config.files import configure
from mfcomm.errors import ChannelError, ConfigError
from mfcomm.learning import checkpointing

pytestmark = pytest.mark.integration  # GNU Radio flowgraphs in their own processes

RELAY = Path(__file__).parent / "flowgraphs" / "relay.py"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flowgraphs"


needs_gnuradio = pytest.mark.skipif(not has_gnuradio(), reason=f"{gnuradio_python()} cannot import gnuradio")


def _x(batch: int = 64) -> torch.Tensor:
    return torch.randn(batch, 4, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))


def _fixed(tmp_path: Path, *args: str) -> Path:
    """relay.py with ``args`` fixed: a flowgraph that a spec on the command line names by its path alone."""
    path = tmp_path / "fixed_relay.py"
    path.write_text(
        f"import runpy, sys\nsys.argv[1:1] = {list(args)!r}\nrunpy.run_path({str(RELAY)!r}, run_name='__main__')\n"
    )
    return path


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie no one has reaped yet counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _chain_passes_any_key() -> bool:
    try:
        chain.parse(f"gnuradio(flowgraph={RELAY},gain=2)")
        return True
    except ChannelError:
        return False


@needs_gnuradio
def test_a_flowgraph_gets_the_stage_keys_as_options():
    ch = GnuRadioChannel(flowgraph=str(RELAY), gain=2, sync="none", timeout=10)
    assert ch.name == f"gnuradio(flowgraph={RELAY},gain=2,sync=none,payload=512)"
    try:
        x = _x()
        for _ in range(3):  # the stream goes on across calls
            assert torch.allclose(ch(x), 2 * x, atol=1e-5)
        process = ch.transport.process
    finally:
        ch.close()
    assert process.returncode == 0  # its stdin closed: it stopped as a GRC-generated flowgraph does


@pytest.mark.xfail(
    not _chain_passes_any_key(),
    strict=True,
    raises=ChannelError,
    reason="chain.parse refuses keys the stage's signature does not name (the chain.py change is pending)",
)
@needs_gnuradio
def test_a_chain_spec_passes_any_key_and_its_name_rebuilds_it():
    spec = f"gnuradio(flowgraph={RELAY}, gain=-1.5, sync=none)"
    stage = chain.build(spec, None, timeout=10).stages[0]
    assert chain.build(stage.name, None).name == stage.name and "gain=-1.5" in stage.name
    try:
        assert torch.allclose(stage(_x()), -1.5 * _x(), atol=1e-5)
    finally:
        stage.close()


def test_a_flowgraph_spec_starts_nothing_and_its_name_rebuilds_it():
    ch = make_channel(f"gnuradio(flowgraph={RELAY}, sync=gain, payload=100)", None, timeout=5)
    stage = ch.stages[0]
    assert stage.name == f"gnuradio(flowgraph={RELAY},sync=gain,payload=100)" and stage.transport is None
    assert chain.build(ch.name, None).name == ch.name
    assert GnuRadioChannel(flowgraph=str(RELAY), freq_offset=0.25, seed=0).options == ["--freq-offset=0.25", "--seed=0"]


@pytest.mark.parametrize(
    "keys, match",
    [
        ({"flowgraph": "/nonexistent/fg.py"}, "fg.py not found"),
        ({"flowgraph": str(RELAY.with_suffix(".txt"))}, r"\.py or \.grc"),
        ({"flowgraph": "/a b/fg.py"}, "letters, digits"),
        ({"flowgraph": str(RELAY), "in_address": "tcp://x"}, "mfcomm's"),
        ({"flowgraph": str(RELAY), "gain": "2;rm"}, "words or numbers"),
        ({"gain": 2}, "unknown parameter 'gain'"),  # the built-in takes its own keys only
    ],
)
def test_bad_flowgraph_keys_are_one_line_at_once(keys, match):
    with pytest.raises(ChannelError, match=match) as err:
        GnuRadioChannel(**keys)
    assert "\n" not in str(err.value)


@pytest.fixture
def started(monkeypatch) -> list[flowgraph_process.Flowgraph]:
    """Every flowgraph the test starts."""
    flowgraphs = []

    class Recorded(flowgraph_process.Flowgraph):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            flowgraphs.append(self)

    monkeypatch.setattr(gnuradio, "Flowgraph", Recorded)
    return flowgraphs


def _call_until_it_fails(ch: GnuRadioChannel, seconds: float = 30.0) -> None:
    """Call ``ch`` again and again (a crash or an exit comes after some calls)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        ch(_x(256))


FAULTS = [
    ("syntax error", {"flowgraph": "syntax.py"}, r"syntax.py exited \(exit status 1\): SyntaxError"),
    ("bad option", {"bogus": "1"}, r"exit status 2\): .*unrecognized arguments: --bogus=1"),
    ("exits", {"fault": "exit"}, r"exited \(exit status 4\): relay: radio lost"),
    ("crashes", {"crash_after": 20_000}, r"relay.py exited \(killed by SIGSEGV\)"),
    ("sends nothing", {"fault": "silent"}, r"relay.py,fault=silent,.*: no samples back within 2 s"),
    ("sends noise", {"fault": "noise"}, r"relay.py,fault=noise,.*: preamble not found"),
    ("sends floats", {"fault": "floats"}, r"relay.py,fault=floats,.*: preamble not found"),
]


@needs_gnuradio
@pytest.mark.parametrize("case, keys, match", FAULTS, ids=[case for case, _, _ in FAULTS])
def test_a_failing_flowgraph_is_one_line_within_the_timeout_and_is_stopped(
    tmp_path, monkeypatch, started, case, keys, match
):
    (tmp_path / "syntax.py").write_text("def f(:\n")
    monkeypatch.chdir(tmp_path)
    ch = GnuRadioChannel(**{"flowgraph": str(RELAY), **keys}, timeout=2)
    start = time.monotonic()
    with pytest.raises(ChannelError, match=match) as err:
        _call_until_it_fails(ch)
    assert time.monotonic() - start < 2 + 5 and "\n" not in str(err.value)
    assert ch.transport is None and len(started) == 1
    assert started[0].process.returncode is not None  # stopped and reaped


@needs_gnuradio
def test_a_flowgraph_that_ignores_stdin_and_sigterm_is_killed_at_close(monkeypatch):
    monkeypatch.setattr(flowgraph_process, "STOP_GRACE", 0.3)
    ch = GnuRadioChannel(flowgraph=str(RELAY), fault="stubborn", timeout=10)
    ch(_x())
    process = ch.transport.process
    ch.close()
    assert process.returncode == -signal.SIGKILL


@needs_gnuradio
def test_no_flowgraph_outlives_a_killed_mfcomm(tmp_path):
    """SIGKILL leaves mfcomm no time to stop anything: the flowgraph (one that ignores its stdin closing and
    SIGTERM) dies with it all the same (PR_SET_PDEATHSIG)."""
    pid_file = tmp_path / "pid"
    fixed = _fixed(tmp_path, "--fault", "stubborn", "--pid-file", str(pid_file))
    train = ["train", "--channel", f"gnuradio(flowgraph={fixed})", "--iterations", "100000", "--no-baseline"]
    mfcomm = subprocess.Popen(
        [sys.executable, "-m", "mfcomm.cli", *train, "--quiet", "--out", str(tmp_path / "run")],
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline and mfcomm.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # training through it
        assert mfcomm.poll() is None, mfcomm.stderr.read() if mfcomm.stderr else ""
        flowgraph = int(pid_file.read_text())
        assert not _gone(flowgraph)
    finally:
        mfcomm.kill()
        mfcomm.communicate()
    deadline = time.monotonic() + 5
    while not _gone(flowgraph) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(flowgraph)


@needs_gnuradio
def test_a_crashing_flowgraph_keeps_the_last_good_checkpoint(tmp_path, capsys):
    """About 600 samples an iteration (two calls of 64 x 2 symbols, framed): it crashes after some 30."""
    fixed = _fixed(tmp_path, "--crash-after", "20000")
    out = tmp_path / "run"
    args = ["train", "--channel", f"gnuradio(flowgraph={fixed})", "--iterations", "400", "--checkpoint-every", "10"]
    code = cli.main([*args, "--batch-size", "64", "--rx-steps", "1", "--no-baseline", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "killed by SIGSEGV" in err and "last good checkpoint" in err
    state = checkpointing.read(out / "checkpoint.pt")
    assert state["iteration"] > 0 and state["iteration"] % 10 == 0 and f"{fixed}" in state["config"]
    assert not (out / "summary.json").exists()


def test_a_config_file_naming_a_flowgraph_is_refused_without_trust(tmp_path, capsys):
    """A flowgraph is code that runs: a config file (one sent to you, a run directory's) may not name one that
    the command line does not (``--channel``) or trust (``--trust-config``), as a ``PATH.py:FUNC``."""
    flowgraph, marker = tmp_path / "fg.py", tmp_path / "ran"
    flowgraph.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    spec = f"gnuradio(flowgraph={flowgraph})"
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(f'channel = "{spec}"\niterations = 1\n')
    with pytest.raises(ConfigError, match="--trust-config"):
        configure(cfg_file)
    assert main_refuses(["train", "--config", str(cfg_file), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert configure(cfg_file, trust=True).channel == spec
    assert configure(cfg_file, {"channel": spec}).channel == spec
    assert not marker.exists() and not (tmp_path / "out").exists()


def main_refuses(argv: list[str], capsys) -> bool:
    """Whether ``mfcomm ARGV`` stops with one line naming both remedies."""
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    return code == 2 and len(err.splitlines()) == 1 and "--channel" in err and "--trust-config" in err


@pytest.mark.parametrize(
    "spec, code",
    [
        ("gnuradio(flowgraph=fg.grc)", True),
        ("awgn | gnuradio(snr_db=3, flowgraph = fg.py, sync=gain)", True),
        ("gnuradio(flowgraph=fg.py) | adc(bits=", True),  # counts even where the chain is malformed
        ("gnuradio(snr_db=3)", False),
        ("rapp(p=2) | awgn", False),
        ("box.py:f", True),
    ],
)
def test_a_chain_naming_a_flowgraph_counts_as_code_and_its_path_is_made_absolute(spec, code):
    assert names_code(spec) is code and names_code(spec) is code
    absolute = absolute_paths(spec)
    if "flowgraph" in spec:
        assert f"={Path.cwd()}/fg." in absolute.replace(" ", "")
    assert absolute_paths(absolute) == absolute
    assert absolute_paths("gnuradio(snr_db=3) | awgn") == "gnuradio(snr_db=3) | awgn"


@needs_gnuradio
@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion's compiler) not installed")
@pytest.mark.parametrize("example", ["channel_model.grc", "usrp_loopback.grc"])
def test_the_examples_compile(tmp_path, example):
    made = flowgraph_process.compile_grc(EXAMPLES / example, tmp_path)
    assert made.parent == tmp_path and "--in-address" in made.read_text() and "--out-address" in made.read_text()


@needs_gnuradio
def test_the_channel_model_example_keeps_the_contract():
    grc = str(EXAMPLES / "channel_model.grc")
    ch = GnuRadioChannel(flowgraph=grc, noise_voltage=0.1, freq_offset=1e-3, seed=1, sync="fine")
    try:
        x = _x(512)  # unit energy per symbol
        error = ch(x) - x
        assert abs(ch.deframer.cfo - 1e-3) < 1e-4
        assert float(error.abs().square().mean()) == pytest.approx(0.01, rel=0.3)  # N0 = noise_voltage**2
    finally:
        ch.close()


@needs_gnuradio
def test_a_grc_file_grcc_cannot_compile_is_one_line(tmp_path):
    broken = tmp_path / "broken.grc"
    broken.write_text("options: [\n")
    with pytest.raises(ChannelError, match=r"grcc cannot compile .*broken.grc: .*broken.grc") as err:
        GnuRadioChannel(flowgraph=str(broken))(_x())
    assert "\n" not in str(err.value)
