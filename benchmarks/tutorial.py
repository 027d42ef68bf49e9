"""Peer benchmark: mfcomm against the model-free recipe of Sionna's autoencoder tutorial, side by side.

Runs, in one process on one device:
1. the tutorial's recipe (``sionna_recipe.py``: 7,000 x (10 receiver + 1 transmitter) steps, 3,000
   fine-tuning steps, batch 128 codewords, perturbation variance 0.01), then its final BLER at one Eb/N0;
2. mfcomm's model-free bit-wise training (``task = "bits"`` defaults), pausing every ``--check-every``
   iterations to measure the BLER at that Eb/N0 (the pauses are not counted): the channel uses and wall
   time at the first check that reaches the recipe's final BLER;
3. mfcomm's model-based training (10,000 steps, as the tutorial's conventional training);
4. coded BLER curves (5G LDPC, k = 750, n = 1500) of all three and of Gray-labelled 64-QAM with Sionna's
   APP demapper, the Eb/N0 of each at BLER 1e-2, and BMD rates.

    python benchmarks/tutorial.py --device cuda          # the full benchmark (minutes on a GPU)
    python benchmarks/tutorial.py --quick                # a smoke run of the same code on the CPU

The same ``--seed`` on the same device gives the same samples and results (on a GPU, up to its
non-deterministic kernels). Prints a table and writes ``results.json``, ``bler.png``, ``constellation.png``
and ``constellation.csv`` into ``--out`` (default ``runs/tutorial``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from sionna_recipe import Recipe, RecipeSystem, train_recipe

from mfcomm.channels.counting import Counted
from mfcomm.config.fields import Config
from mfcomm.config.files import configure
from mfcomm.evaluation.coded import CodedPoint, LdpcCode, LearnedModem, QamModem, bmd_rate_at, simulate_coded
from mfcomm.evaluation.export import plot_labelled_constellation, write_constellation_csv
from mfcomm.evaluation.coded import ebno_at_bler
from mfcomm.experiment.tasks import TASKS
from mfcomm.learning.model_based import train_model_based
from mfcomm.learning.model_free import train_model_free
from mfcomm.plots import save_figure, subplots
from mfcomm.sionna_import import phy
from mfcomm.system.bitwise import bits_to_indices, group_bits

BITS = TASKS["bits"]


class RecipeModem:
    """The recipe's trained system as a modem for the coded evaluation."""

    def __init__(self, system: RecipeSystem):
        self.system, self.bits_per_symbol = system, system.recipe.bits_per_symbol
        self.points = system.points()

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        return self.points[bits_to_indices(group_bits(bits, self.bits_per_symbol))]

    @torch.no_grad()
    def demap(self, y: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
        return self.system.demapper(y, n0).flatten(-2)


class Stopwatch:
    """Wall-clock time with pauses (GPU work is synchronised at each reading)."""

    def __init__(self, device: str):
        self.device, self.total, self.started = device, 0.0, time.perf_counter()

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def pause(self) -> float:
        self._sync()
        self.total += time.perf_counter() - self.started
        return self.total

    def resume(self) -> None:
        self.started = time.perf_counter()


def parse_schedules(text: str) -> list[tuple[int, int]]:
    """``"2000:1000,6000:2000"`` -> [(2000, 1000), (6000, 2000)]."""
    try:
        pairs = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        raise SystemExit(f"--schedules: expected ITERATIONS:FINETUNE[,...], not {text!r}") from None
    if not pairs or any(len(p) != 2 or p[0] < 1 or p[1] < 0 for p in pairs):
        raise SystemExit(f"--schedules: expected ITERATIONS:FINETUNE[,...], not {text!r}")
    return pairs


def run_mfcomm(cfg: Config, check_every: int, bler: Callable[[LearnedModem], CodedPoint],
               target: CodedPoint, recipe_uses: int, recipe_seconds: float,
               on_check: Callable[[dict], None]) -> tuple[LearnedModem, dict]:
    """Train model-free with BLER checks every ``check_every`` steps (and at the end), paused out of the
    wall time; returns the modem and a record with the first check at or below ``target``'s BLER."""
    torch.manual_seed(cfg.seed)
    const, demapper = BITS.build(cfg)
    channel = Counted(BITS.channel(cfg, None, None))
    modem = LearnedModem(const, demapper)
    record: dict = {"config": cfg.to_dict(), "checks": []}
    watch = Stopwatch(cfg.device)
    total, done = cfg.iterations + cfg.finetune_iterations, 0

    def check(_: int) -> None:
        nonlocal done
        done += 1
        if done % check_every and done != total:
            return
        seconds = watch.pause()
        point = bler(modem)
        record["checks"].append({"step": done, "channel_uses": channel.uses, "seconds": seconds,
                                 "bler": point.bler, "bler_ci": point.bler_ci(), "block_errors": point.block_errors,
                                 "blocks": point.blocks})
        print(f"mfcomm {cfg.iterations}+{cfg.finetune_iterations} step {done}: {channel.uses:.3g} uses, "
              f"{seconds:.1f} s, BLER {point.bler:.3e}", flush=True)
        on_check(record)
        watch.resume()

    watch.resume()
    train_model_free(const, demapper, channel, cfg, log=lambda it, row: None, progress=check, examples=BITS.examples(cfg))
    reached = next((c for c in record["checks"] if c["bler"] <= target.bler), None)
    record["reached"] = reached
    if reached:
        record["uses_ratio"] = reached["channel_uses"] / recipe_uses
        record["time_ratio"] = reached["seconds"] / recipe_seconds
    return modem, record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: checks that the benchmark runs")
    ap.add_argument("--out", default="runs/tutorial")
    ap.add_argument("--ebno-db", type=float, default=6.0, help="Eb/N0 of the BLER target (default 6 dB)")
    ap.add_argument("--check-blocks", type=int, default=20000, help="codewords per BLER check")
    ap.add_argument("--check-every", type=int, default=500, help="mfcomm steps between BLER checks")
    ap.add_argument("--schedules", default="2000:1000,6000:2000",
                    help="mfcomm model-free runs, ITERATIONS:FINETUNE each (default: the library's default and a "
                    "longer one)")
    ap.add_argument("--curve-target-errors", type=int, default=200)
    ap.add_argument("--curve-max-blocks", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device, out = args.device, Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = Recipe()
    bits = {"task": "bits", "device": device, "seed": args.seed}
    cfgs = [configure(overrides={**bits, "iterations": i, "finetune_iterations": f})
            for i, f in parse_schedules(args.schedules)]
    mb_cfg = configure(overrides={**bits, "method": "model-based", "iterations": 10000, "finetune_iterations": 0,
                                "rx_lr": 1e-3, "tx_lr": 1e-3})
    if args.quick:
        recipe = replace(recipe, alternating_iterations=3, finetune_iterations=3, batch_size=8)
        cfgs = [replace(c, iterations=6, finetune_iterations=4, batch_size=8) for c in cfgs[:1]]
        mb_cfg = replace(mb_cfg, iterations=5, batch_size=8)
        args.check_blocks, args.check_every, args.curve_max_blocks = 100, 5, 100
    if args.check_every < 1 or args.check_blocks < 100:
        ap.error("--check-every must be >= 1 and --check-blocks >= 100")
    code = LdpcCode(750, 1500, recipe.bits_per_symbol, device=device)
    batch = 10000 if device.startswith("cuda") else 500
    recipe_uses = recipe.batch_size * recipe.symbols * (
        recipe.alternating_iterations * (recipe.rx_steps_per_iteration + 1) + recipe.finetune_iterations)

    def bler(modem) -> CodedPoint:
        return simulate_coded(modem, code, args.ebno_db, target_block_errors=10**9, max_blocks=args.check_blocks,
                              batch=batch, device=device)

    # 1. the tutorial's recipe, and its final BLER; its Sionna blocks draw from Sionna's generators, seeded
    # here (which re-seeds torch's global generators too, so torch is seeded after it)
    phy().config.seed = args.seed
    torch.manual_seed(args.seed)
    system = RecipeSystem(recipe, device)
    recipe_seconds = train_recipe(system)
    recipe_modem = RecipeModem(system)
    target = bler(recipe_modem)
    results: dict = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                     "ebno_db": args.ebno_db,
                     "recipe": {**asdict(recipe), "seconds": recipe_seconds, "channel_uses": recipe_uses,
                                "bler": target.bler, "bler_ci": target.bler_ci(), "blocks": target.blocks},
                     "mfcomm": {}}
    save(results, out)
    print(f"recipe: {recipe_seconds:.1f} s, {recipe_uses:.3g} channel uses, BLER {target.bler:.3e} "
          f"at {args.ebno_db} dB ({target.block_errors}/{target.blocks})", flush=True)

    # 2. mfcomm, model-free, with BLER checks
    systems: dict = {"QAM + APP demapper": QamModem(recipe.bits_per_symbol, device), "tutorial recipe": recipe_modem}
    for cfg in cfgs:
        label = f"mfcomm model-free {cfg.iterations}+{cfg.finetune_iterations}"

        def on_check(record: dict, label: str = label) -> None:
            results["mfcomm"][label] = record
            save(results, out)

        systems[label], results["mfcomm"][label] = run_mfcomm(cfg, args.check_every, bler, target, recipe_uses,
                                                              recipe_seconds, on_check)
        save(results, out)

    # 3. mfcomm, model-based (the tutorial's conventional training: 10,000 steps, Adam 1e-3)
    torch.manual_seed(args.seed)
    mb_const, mb_demapper = BITS.build(mb_cfg)
    mb_channel = Counted(BITS.channel(mb_cfg, None, None))
    watch = Stopwatch(device)
    train_model_based(mb_const, mb_demapper, mb_channel, mb_cfg, log=lambda it, row: None, examples=BITS.examples(mb_cfg))
    results["mfcomm_model_based"] = {"iterations": mb_cfg.iterations, "seconds": watch.pause(),
                                     "channel_uses": mb_channel.uses}
    systems["mfcomm model-based"] = LearnedModem(mb_const, mb_demapper)

    # 4. coded curves, BLER 1e-2 crossings, BMD rates
    grid = [6.0, 7.0] if args.quick else [float(e) for e in np.arange(4.0, 8.01, 0.5)]
    curves, crossings, rates = {}, {}, {}
    for name, m in systems.items():
        curves[name] = [simulate_coded(m, code, e, args.curve_target_errors, args.curve_max_blocks, batch, device)
                        for e in grid]
        crossings[name] = ebno_at_bler(curves[name])
        rates[name] = {e: bmd_rate_at(m, e, code.rate, device=device) for e in (4.0, 6.0, 8.0)}
        print(f"{name}: Eb/N0 at BLER 1e-2 = {crossings[name]}, BMD rate {rates[name]}", flush=True)
        results.update({"curves": {k: [asdict(p) for p in pts] for k, pts in curves.items()},
                        "ebno_at_bler_1e-2": crossings, "bmd_rate": rates})
        save(results, out)
    first = next(iter(systems[k] for k in systems if k.startswith("mfcomm model-free")))
    points = first.const.points().detach().cpu().numpy()
    write_constellation_csv(points, out / "constellation.csv")
    plot_labelled_constellation(points, out / "constellation.png", title="mfcomm model-free, 64 points")
    plot_curves(grid, curves, out / "bler.png")
    report(results)


def save(results: dict, out: Path) -> None:
    """``results.json``, rewritten after every stage so that a cut-short run keeps what it measured."""
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(out / "results.json")


def plot_curves(grid: list[float], curves: dict[str, list[CodedPoint]], path: Path) -> None:
    """BLER versus Eb/N0, one line per system, with the 1e-2 level marked."""
    fig, ax = subplots(figsize=(6.4, 4.6))
    for name, pts in curves.items():
        shown = [(p.ebno_db, p.bler) for p in pts if p.bler > 0]
        if shown:
            ax.semilogy(*zip(*shown), "o-" if "QAM" in name else "s--", label=name)
    ax.axhline(1e-2, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="Eb/N0 (dB)", ylabel="BLER", title="5G LDPC (750, 1500), 64 points, AWGN")
    ax.grid(which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def report(results: dict) -> None:
    """The side-by-side table."""
    r = results["recipe"]
    print(f"\ndevice: {results['device']}; BLER target at Eb/N0 = {results['ebno_db']} dB")
    print(f"{'':34s} {'channel uses':>14s} {'wall time (s)':>14s} {'BLER':>10s}")
    print(f"{'tutorial recipe (final)':34s} {r['channel_uses']:14.3g} {r['seconds']:14.1f} {r['bler']:10.3e}")
    for label, m in results["mfcomm"].items():
        c = m.get("reached")
        if c:
            print(f"{label + ' (reached)':34s} {c['channel_uses']:14.3g} {c['seconds']:14.1f} {c['bler']:10.3e}"
                  f"   ratios: uses {m['uses_ratio']:.3f}, time {m['time_ratio']:.3f}")
        else:
            last = m["checks"][-1]
            print(f"{label + ' (not reached)':34s} {last['channel_uses']:14.3g} {last['seconds']:14.1f} "
                  f"{last['bler']:10.3e}")
    print("\nEb/N0 (dB) at BLER 1e-2:")
    for name, e in results["ebno_at_bler_1e-2"].items():
        print(f"  {name:34s} {'n/a' if e is None else f'{e:.2f}'}")


if __name__ == "__main__":
    main()
