"""``mfcomm sweep`` on Ray against a shell loop of ``mfcomm train`` (``make bench-sweep``): issue #12's targets.

The configurations are ``examples/sweep-sigma2.toml``'s: AWGN, M=16, n=2, 10 dB, 1500 iterations, sigma2 in
{0.05, 0.1} x seeds 1-4, 8 trials. Measured, one after the other on an otherwise idle machine:

- the shell loop: ``mfcomm train --config BASE --sigma2 S --seed K`` for each of the 8, one process each, as a
  user's ``for`` loop would run them (torch's default threads);
- ``mfcomm sweep`` of the same spec with ``--workers 2`` and with ``--workers 1`` (embedded Ray, one thread
  per trial): wall time, the speed-up from 1 to 2 workers, and the ratio to the shell loop (target <= 0.75);
- Ray's start-up (``ray.init`` + ``shutdown`` of a local 2-CPU cluster) and the per-trial overhead: a sweep of
  8 one-iteration trials with 1 worker, less 8 in-process ``runs.train`` calls of the same configurations;
- the SER of every configuration, standalone against the sweep's trial (the same seed must give the same SER).

Prints a Markdown report and writes it to ``docs/results/sweep.md``.
Usage: ``python benchmarks/sweep.py [--quick]`` (``--quick``: 200 iterations, for a smoke test, into
``runs/bench/sweep-quick.md``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweep-sigma2.toml"
MFCOMM = [sys.executable, "-m", "mfcomm.cli"]


def timed(cmd: list[str]) -> float:
    """Wall seconds of a command that must succeed."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def trials(spec: dict) -> list[dict]:
    """The grid's configurations (sigma2 x seed), in order."""
    return [{"sigma2": s, "seed": k} for s in spec["grid"]["sigma2"] for k in spec["grid"]["seed"]]


def toml_lines(values: dict) -> list[str]:
    """``key = value`` lines for plain scalars and lists (JSON spells them as TOML does, booleans aside)."""
    return [f"{k} = {str(v).lower() if isinstance(v, bool) else json.dumps(v)}" for k, v in values.items()]


def write_spec(spec: dict, path: Path) -> Path:
    """``spec`` (tables of plain values) as TOML."""
    path.write_text("\n".join(line for table, values in spec.items() for line in [f"[{table}]", *toml_lines(values)])
                    + "\n")
    return path


def shell_loop(spec: dict, tmp: Path) -> tuple[float, dict[tuple, float]]:
    """Wall time of one ``mfcomm train`` process per configuration, and each run's SER."""
    base = tmp / "base.toml"
    base.write_text("\n".join(toml_lines(spec["base"])) + "\n")
    sers, start = {}, time.perf_counter()
    for t in trials(spec):
        out = tmp / f"loop-{t['sigma2']}-{t['seed']}"
        subprocess.run([*MFCOMM, "train", "--config", str(base), "--sigma2", str(t["sigma2"]), "--seed",
                        str(t["seed"]), "--out", str(out), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        sers[(t["sigma2"], t["seed"])] = json.loads((out / "summary.json").read_text())["ser"]
    return time.perf_counter() - start, sers


def sweep(spec_path: Path, out: Path, workers: int) -> tuple[float, dict[tuple, float]]:
    """Wall time of ``mfcomm sweep`` and each trial's SER from its results.csv."""
    seconds = timed([*MFCOMM, "sweep", str(spec_path), "--out", str(out), "--workers", str(workers), "--quiet"])
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    return seconds, {(float(r["sigma2"]), int(r["seed"])): float(r["ser"]) for r in rows if r["status"] == "ok"}


def ray_overheads(spec: dict, tmp: Path) -> tuple[float, float]:
    """Ray's start-up and shut-down, and the overhead per trial of a 1-worker sweep over in-process training."""
    import ray

    from mfcomm.config.files import configure
    from mfcomm.experiment import runs

    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    startup = time.perf_counter() - start
    tiny = {**spec, "base": {**spec["base"], "iterations": 1}}
    seconds = timed([*MFCOMM, "sweep", str(write_spec(tiny, tmp / "tiny.toml")), "--out", str(tmp / "tiny"),
                     "--workers", "1", "--quiet"])
    start = time.perf_counter()
    for t in trials(tiny):
        runs.train(configure(overrides={**tiny["base"], **t}), quiet=True)
    in_process = time.perf_counter() - start
    return startup, (seconds - startup - in_process) / len(trials(tiny))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 iterations instead of the spec's")
    args = parser.parse_args()
    spec = tomllib.loads(SPEC.read_text())
    if args.quick:
        spec["base"]["iterations"] = 200
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        spec_path = write_spec(spec, tmp / "spec.toml")
        loop, loop_sers = shell_loop(spec, tmp)
        print(f"shell loop: {loop:.1f} s", flush=True)
        two, two_sers = sweep(spec_path, tmp / "two", 2)
        print(f"sweep, 2 workers: {two:.1f} s", flush=True)
        one, one_sers = sweep(spec_path, tmp / "one", 1)
        print(f"sweep, 1 worker: {one:.1f} s", flush=True)
        startup, per_trial = ray_overheads(spec, tmp)
    same = all(loop_sers[k] == two_sers.get(k) == one_sers.get(k) for k in loop_sers)
    lines = [
        "# `mfcomm sweep` against a shell loop of `mfcomm train`",
        "",
        f"Measured by `make bench-sweep` (`benchmarks/sweep.py{' --quick' if args.quick else ''}`) on "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{time.strftime('%Y-%m-%d')}: {len(loop_sers)} trials of `{SPEC.relative_to(ROOT)}` "
        f"({spec['base']['iterations']} iterations each).",
        "",
        "| what | wall time (s) |",
        "|---|---|",
        f"| shell loop, one `mfcomm train` process per configuration | {loop:.1f} |",
        f"| `mfcomm sweep --workers 2` | {two:.1f} |",
        f"| `mfcomm sweep --workers 1` | {one:.1f} |",
        "",
        f"- sweep (2 workers) / shell loop: **{two / loop:.2f}** (target at most 0.75)",
        f"- speed-up from 1 to 2 workers: **{one / two:.2f}x**",
        f"- Ray start-up and shut-down (local, 2 CPUs): {startup:.1f} s; overhead per trial over in-process "
        f"training: {per_trial:.2f} s",
        f"- the same seed gives the same SER standalone and in the sweep (1 and 2 workers), every trial: "
        f"**{'yes' if same else 'NO'}**",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    # a smoke run checks the script, not the claim: it never writes into docs/
    out = ROOT / "runs" / "bench" / "sweep-quick.md" if args.quick else ROOT / "docs" / "results" / "sweep.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
