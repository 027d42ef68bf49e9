"""Peer benchmark: mfcomm against the model-free recipe of Sionna's autoencoder tutorial, side by side.

Runs, in one process on one device:
1. the tutorial's recipe (``sionna_recipe.py``: 7,000 x (10 receiver + 1 transmitter) steps, 3,000
   fine-tuning steps, batch 128 codewords, perturbation variance 0.01), then its final BLER at one Eb/N0;
2. mfcomm's model-free bit-wise training (``BitwiseConfig`` defaults), pausing every ``--check-every``
   iterations to measure the BLER at that Eb/N0 (the pauses are not counted): the channel uses and wall
   time at the first check that reaches the recipe's final BLER;
3. mfcomm's model-based training (10,000 steps, as the tutorial's conventional training);
4. coded BLER curves (5G LDPC, k = 750, n = 1500) of all three and of Gray-labelled 64-QAM with Sionna's
   APP demapper, the Eb/N0 of each at BLER 1e-2, and BMD rates.

    python benchmarks/tutorial.py --device cuda          # the full benchmark (minutes on a GPU)
    python benchmarks/tutorial.py --quick                # a smoke run of the same code on the CPU

Prints a table and writes ``results.json``, ``bler.png``, ``constellation.png`` and ``constellation.csv``
into ``--out`` (default ``runs/tutorial``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from sionna_recipe import Recipe, RecipeSystem, train_recipe  # noqa: E402

from mfcomm.bitwise import LearnedConstellation, NeuralDemapper  # noqa: E402
from mfcomm.bitwise_config import BitwiseConfig, validate  # noqa: E402
from mfcomm.bitwise_training import AwgnEbnoRange, train_bitwise  # noqa: E402
from mfcomm.coded import CodedPoint, LdpcCode, LearnedModem, QamModem, bmd_rate_at, simulate_coded  # noqa: E402
from mfcomm.coded_sweep import ebno_at_bler  # noqa: E402
from mfcomm.export import plot_labelled_constellation, write_constellation_csv  # noqa: E402
from mfcomm.plots import save_figure  # noqa: E402


class RecipeModem:
    """The recipe's trained system as a modem for the coded evaluation."""

    def __init__(self, system: RecipeSystem):
        self.system, self.bits_per_symbol = system, system.recipe.bits_per_symbol
        self.points = system.points()

    @torch.no_grad()
    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        b = self.bits_per_symbol
        weights = 2 ** torch.arange(b - 1, -1, -1, device=bits.device)
        return self.points[(bits.view(*bits.shape[:-1], -1, b).long() * weights).sum(-1)]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: checks that the benchmark runs")
    ap.add_argument("--out", default="runs/tutorial")
    ap.add_argument("--ebno-db", type=float, default=6.0, help="Eb/N0 of the BLER target (default 6 dB)")
    ap.add_argument("--check-blocks", type=int, default=20000, help="codewords per BLER check")
    ap.add_argument("--check-every", type=int, default=100, help="mfcomm iterations between BLER checks")
    ap.add_argument("--curve-target-errors", type=int, default=200)
    ap.add_argument("--curve-max-blocks", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device, out = args.device, Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = Recipe()
    cfg = validate(BitwiseConfig(device=device, seed=args.seed))
    mb_cfg = validate(BitwiseConfig(method="model-based", iterations=10000, finetune_iterations=0,
                                    device=device, seed=args.seed))
    if args.quick:
        recipe = replace(recipe, alternating_iterations=3, finetune_iterations=3, batch_size=8)
        cfg = replace(cfg, iterations=6, finetune_iterations=4, batch_size=8)
        mb_cfg = replace(mb_cfg, iterations=5, batch_size=8)
        args.check_blocks, args.check_every, args.curve_max_blocks = 100, 5, 100
    code = LdpcCode(750, 1500, recipe.bits_per_symbol, device=device)
    batch = 10000 if device.startswith("cuda") else 500
    recipe_uses = recipe.batch_size * recipe.symbols * (
        recipe.alternating_iterations * (recipe.rx_steps_per_iteration + 1) + recipe.finetune_iterations)

    def bler(modem) -> CodedPoint:
        return simulate_coded(modem, code, args.ebno_db, target_block_errors=10**9, max_blocks=args.check_blocks,
                              batch=batch, device=device)

    # 1. the tutorial's recipe
    torch.manual_seed(args.seed)
    system = RecipeSystem(recipe, device)
    recipe_seconds = train_recipe(system)
    recipe_modem = RecipeModem(system)
    target = bler(recipe_modem)
    print(f"recipe: {recipe_seconds:.1f} s, {recipe_uses:.3g} channel uses, BLER {target.bler:.3e} "
          f"at {args.ebno_db} dB ({target.block_errors}/{target.blocks})", flush=True)

    # 2. mfcomm, model-free, with BLER checks
    torch.manual_seed(args.seed)
    const = LearnedConstellation(cfg.bits_per_symbol, cfg.init).to(device)
    demapper = NeuralDemapper(cfg.bits_per_symbol, cfg.rx_hidden).to(device)
    channel = AwgnEbnoRange(cfg.ebno_db_min, cfg.ebno_db_max, cfg.bits_per_symbol, cfg.code_rate)
    modem = LearnedModem(const, demapper)
    checks: list[dict] = []
    watch = Stopwatch(device)
    done = 0

    def check(_: int) -> None:
        nonlocal done
        done += 1
        if done % args.check_every and done != cfg.iterations + cfg.finetune_iterations:
            return
        seconds = watch.pause()
        point = bler(modem)
        checks.append({"iteration": done, "channel_uses": channel.uses, "seconds": seconds, "bler": point.bler,
                       "bler_ci": point.bler_ci(), "block_errors": point.block_errors, "blocks": point.blocks})
        print(f"mfcomm it {done}: {channel.uses:.3g} uses, {seconds:.1f} s, BLER {point.bler:.3e}", flush=True)
        watch.resume()

    watch.resume()
    train_bitwise(const, demapper, channel, cfg, log=lambda it, row: None, progress=check)
    reached = next((c for c in checks if c["bler"] <= target.bler), None)

    # 3. mfcomm, model-based
    torch.manual_seed(args.seed)
    mb_const = LearnedConstellation(cfg.bits_per_symbol, cfg.init).to(device)
    mb_demapper = NeuralDemapper(cfg.bits_per_symbol, cfg.rx_hidden).to(device)
    mb_channel = AwgnEbnoRange(cfg.ebno_db_min, cfg.ebno_db_max, cfg.bits_per_symbol, cfg.code_rate)
    start = time.perf_counter()
    train_bitwise(mb_const, mb_demapper, mb_channel, mb_cfg, log=lambda it, row: None)
    mb_seconds = time.perf_counter() - start

    # 4. coded curves, BLER 1e-2 crossings, BMD rates
    grid = [float(e) for e in np.arange(4.0, 8.01, 0.5)]
    if args.quick:
        grid = [6.0, 7.0]
    systems = {"QAM + APP demapper": QamModem(recipe.bits_per_symbol, device), "tutorial recipe": recipe_modem,
               "mfcomm model-free": modem, "mfcomm model-based": LearnedModem(mb_const, mb_demapper)}
    curves, crossings, rates = {}, {}, {}
    for name, m in systems.items():
        curves[name] = [simulate_coded(m, code, e, args.curve_target_errors, args.curve_max_blocks, batch, device)
                        for e in grid]
        crossings[name] = ebno_at_bler(curves[name])
        rates[name] = {e: bmd_rate_at(m, e, code.rate, device=device) for e in (4.0, 6.0, 8.0)}
        print(f"{name}: Eb/N0 at BLER 1e-2 = {crossings[name]}, BMD rate {rates[name]}", flush=True)

    results = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "ebno_db": args.ebno_db, "recipe": {**asdict(recipe), "seconds": recipe_seconds, "channel_uses": recipe_uses,
                                            "bler": target.bler, "bler_ci": target.bler_ci(),
                                            "blocks": target.blocks},
        "mfcomm": {"config": cfg.to_dict(), "checks": checks, "reached": reached},
        "mfcomm_model_based": {"iterations": mb_cfg.iterations, "seconds": mb_seconds,
                               "channel_uses": mb_channel.uses},
        "curves": {name: [asdict(p) for p in pts] for name, pts in curves.items()},
        "ebno_at_bler_1e-2": crossings, "bmd_rate": rates,
    }
    if reached:
        results["mfcomm"]["uses_ratio"] = reached["channel_uses"] / recipe_uses
        results["mfcomm"]["time_ratio"] = reached["seconds"] / recipe_seconds
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_constellation_csv(const.points().detach().cpu().numpy(), out / "constellation.csv")
    plot_labelled_constellation(const.points().detach().cpu().numpy(), out / "constellation.png",
                                title="mfcomm model-free, 64 points")
    plot_curves(grid, curves, out / "bler.png")
    report(results)


def plot_curves(grid: list[float], curves: dict[str, list[CodedPoint]], path: Path) -> None:
    """BLER versus Eb/N0, one line per system, with the 1e-2 level marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
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
    r, m = results["recipe"], results["mfcomm"]
    print(f"\ndevice: {results['device']}; BLER target at Eb/N0 = {results['ebno_db']} dB")
    print(f"{'':28s} {'channel uses':>14s} {'wall time (s)':>14s} {'BLER':>10s}")
    print(f"{'tutorial recipe (final)':28s} {r['channel_uses']:14.3g} {r['seconds']:14.1f} {r['bler']:10.3e}")
    if m["reached"]:
        c = m["reached"]
        print(f"{'mfcomm (first check <=)':28s} {c['channel_uses']:14.3g} {c['seconds']:14.1f} {c['bler']:10.3e}")
        print(f"ratios mfcomm / recipe: channel uses {m['uses_ratio']:.3f}, wall time {m['time_ratio']:.3f}")
    else:
        last = m["checks"][-1]
        print(f"mfcomm did not reach the recipe's BLER: final {last['bler']:.3e} after {last['channel_uses']:.3g} uses")
    print("\nEb/N0 (dB) at BLER 1e-2:")
    for name, e in results["ebno_at_bler_1e-2"].items():
        print(f"  {name:24s} {'n/a' if e is None else f'{e:.2f}'}")


if __name__ == "__main__":
    main()
