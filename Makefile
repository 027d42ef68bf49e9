# mfcomm: make demo (the main job), make test (make lint, then the default tests: the gate CI runs), make test-fast
# (unit tests and doctests, no flowgraphs, Ray, three-process runs or long trainings: about a minute), make lint (ruff check and
# ruff format --check on src and tests, mypy on src; pyproject.toml configures them), make test-faults (the
# fault suite with its slow cases, docs/reliability.md), make bench (speed figures),
# make bench-nodes (three-process against in-process training at pipeline depths 0, 1, 2 and 4, about 10 minutes),
# make bench-feedback (final SER against feedback delay, frame loss and 1-bit feedback on AWGN and RBF, 3 seeds:
# about 14 minutes on 2 cores, docs/results/feedback.md),
# make bench-efficiency (channel uses to a target SER, about 13 minutes), make bench-channels (impairments, a black box
# in its worker process against in-process, and field models, about 10 minutes), make gradcheck (Theorem 1), make gnuradio (installs GNU Radio 3.10, then
# trains through its channel model and compares with QPSK x2, about 2 minutes), make bench-radio (installs GNU Radio
# 3.10, then learned against QPSK x2 and 16-QAM through its channel model at 1 and 4 samples per symbol with a
# timing offset, multipath and a frequency offset, and the flowgraph against its in-process emulation: 6
# minutes on 2 cores, docs/results/radio.md), make bench-ota (over the air through the radio emulator: learned
# against QPSK x2, the front-end, duty cycle, bursts lost and resent, sim-to-real: 21 minutes; docs/results/ota.md),
# make bench-ofdm (OFDM: learned with and without pilots, model-based, against QAM + LS + LMMSE and perfect CSI on
# TDL-A, coded BLER, one seed: 19 minutes on 2 cores; SEEDS=3: 47 minutes, docs/results/ofdm.md; FULL=1 adds TDL-C and
# CDL-C at two speeds and 3 seeds, CHANNELS=tdl-c-3,... runs some and merges, DEVICE=cuda
# SUBCARRIERS=612 for a GPU and a 5G-sized grid), make bench-ofdm-estimate (the pilotless receiver's channel
# reference: its error on each channel and window, under a minute), make bench-tutorial DEVICE=cuda
# (mfcomm against Sionna's autoencoder-tutorial recipe, side by side: minutes on a GPU, hours on a CPU),
# make bench-quality (what the defaults train on 11 tasks x 5 seeds, against the classical system: 32 minutes
# on 2 cores, two runs at a time as one sweep), make tensorboard RUNS=DIR (TensorBoard on the event files that
# mfcomm train --tensorboard writes under DIR, default runs), make bench-sweep (mfcomm sweep on Ray against a
# shell loop of mfcomm train, 8 trials: Ray's overheads and the 1-to-2-worker speed-up), make docs (the
# documentation site into site/, warnings as errors; open site/index.html).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEVICE ?= cpu
RUNS ?= runs

.PHONY: setup demo lint test test-fast test-slow test-faults bench-sweep bench bench-nodes bench-efficiency bench-channels bench-quality bench-tutorial bench-radio bench-ota bench-feedback bench-ofdm bench-ofdm-estimate gradcheck gnuradio tensorboard docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,docs]'
	touch $@

demo: setup
	$(VENV)/bin/mfcomm demo

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

test: setup
	$(MAKE) lint
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not integration"

test-slow: setup
	$(PY) -m pytest -m slow

test-faults: setup
	$(PY) -m pytest -m "slow or not slow" tests/cli/test_faults.py tests/learning/test_resume.py tests/config/test_checks.py \
		tests/experiment/test_trust.py tests/channels/test_channel_faults.py tests/nodes/test_node_faults.py tests/nodes/test_nodes.py tests/experiment/test_reproducible.py \
		tests/tune/test_tune.py tests/experiment/test_run_directory.py tests/experiment/test_chaos.py tests/cli/test_signals.py \
		tests/channels/test_black_box_process.py tests/channels/test_flowgraph_session.py tests/channels/test_stage_bounds.py tests/tune/test_ray_quiet.py

bench: setup
	$(PY) benchmarks/bench.py

bench-nodes: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) benchmarks/nodes.py

bench-feedback: setup
	$(PY) benchmarks/feedback.py

bench-efficiency: setup
	$(PY) benchmarks/efficiency.py

bench-channels: setup
	$(PY) benchmarks/impairments.py
	$(PY) benchmarks/black_box.py

bench-sweep: setup
	$(PY) benchmarks/sweep.py

bench-quality: setup
	$(PY) benchmarks/quality.py

gradcheck: setup
	$(VENV)/bin/mfcomm gradcheck --batch-sizes 64,512,4096 --trials 300 --pretrain-iterations 100 --overwrite

bench-ofdm: setup
	$(PY) benchmarks/ofdm.py --device $(DEVICE) $(if $(FULL),--full) $(if $(CHANNELS),--channels $(CHANNELS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(SUBCARRIERS),--subcarriers $(SUBCARRIERS))

bench-ofdm-estimate: setup
	$(PY) benchmarks/ofdm_estimate.py

bench-tutorial: setup
	$(PY) benchmarks/tutorial.py --device $(DEVICE)

gnuradio: setup
	scripts/install-gnuradio.sh
	$(PY) benchmarks/gnuradio_channel.py

bench-radio: setup
	scripts/install-gnuradio.sh
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) benchmarks/radio.py

bench-ota: setup
	scripts/install-gnuradio.sh
	$(PY) benchmarks/ota.py

tensorboard: setup
	$(VENV)/bin/tensorboard --logdir $(RUNS)

docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs .pytest_cache
