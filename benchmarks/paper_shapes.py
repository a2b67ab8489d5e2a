"""Epoch-time ratios to Dropout at the paper's three backbone shapes, via `pernode timeit`.

    python benchmarks/paper_shapes.py [--shapes cifar10,speech_commands,rcv1] [--variants all]
        [--rates 0.5] [--steps-per-epoch 5] [--epochs 4] [--out results.md]

Runs `pernode timeit --format json` once per data set shape (CIFAR-10 32x32x3, Speech
Commands 128x128x1, RCV1 47,236 TF-IDF features) and rate on synthetic data (each run
interleaves its variants round by round, Dropout among them), then prints one table:
variants (at each rate) in rows, the ratio of their mean epoch time to Dropout's in the same
run, with its 95% interval, in columns, next to the speed targets, and the CPU model with
its vector extensions and the 1-minute load. ``--rates 0.1,0.3,0.5,0.7`` times every rate
(rows then read ``PerNodeBernoulli@0.3``, each against ``Dropout@0.3`` of its run); the
PerNode variants run the sampler that `auto` picks on the running backend, named in the
table. With --out it also writes the
table and the raw records (device, backend, versions, samplers) to a Markdown file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from _common import cpu_description

SHAPES = ("cifar10", "speech_commands", "rcv1")
# (variant, shape) -> target ratio on a GPU with JAX; variants not listed are reported only.
GPU_TARGETS = {
    "PerNodeGaussian": {"cifar10": 1.05, "speech_commands": 1.05, "rcv1": 1.05},
    "PerNodePartialGaussian": {"cifar10": 1.25, "speech_commands": 1.25, "rcv1": 1.25},
    "PerNodeBernoulli": {"cifar10": 1.10, "speech_commands": 1.25, "rcv1": 1.10},
}
CPU_TARGETS = {
    "PerNodeGaussian": {"cifar10": 1.3},
    "PerNodeBernoulli": {"cifar10": 3.0},
    "PerNodePartialGaussian": {"cifar10": 3.5},
}
MEMORY_TARGET = 1.1  # peak device memory vs Dropout (GPU only: CPUs report none)


def steps_for(shape: str, spec: str) -> str:
    """``--steps-per-epoch`` is one number, or per shape: ``cifar10=10,speech_commands=3``."""
    if "=" not in spec:
        return spec
    table = dict(item.split("=") for item in spec.split(","))
    return table[shape]


def run_shape(shape: str, args, rate: float, label_rates: bool) -> list[dict]:
    cmd = [
        sys.executable, "-m", "pernode_cli", "timeit", "--dataset", shape, "--variants", args.variants,
        "--epochs", str(args.epochs), "--warmup", str(args.warmup),
        "--steps-per-epoch", steps_for(shape, args.steps_per_epoch),
        "--batch-size", str(args.batch_size), "--units", str(args.units), "--rate", str(rate),
        "--format", "json", "--quiet",
    ] + (["--max-minutes", str(args.max_minutes)] if args.max_minutes else [])
    print(f"$ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"pernode timeit failed for {shape}:\n{out.stderr[-3000:]}")
    records = json.loads(out.stdout)
    for r in records:  # one row per variant and rate; Dropout of each run is its baseline
        r["label"] = f"{r['variant']}@{rate:g}" if label_rates else r["variant"]
        r["load_1min"] = os.getloadavg()[0]
    return records


def ratio_table(records: list[dict]) -> str:
    from tabulate import tabulate

    on_gpu = records[0]["device"] != "CPU"
    targets = GPU_TARGETS if on_gpu else CPU_TARGETS
    variants = list(dict.fromkeys(r.get("label", r["variant"]) for r in records))
    shapes = list(dict.fromkeys(r["dataset"] for r in records))
    by = {(r.get("label", r["variant"]), r["dataset"]): r for r in records}
    rows = []
    for v in variants:
        row = [v + "".join(sorted({f" ({r['sampler']})" for r in records
                                   if r.get("label", r["variant"]) == v and r.get("sampler")}))]
        for s in shapes:
            r = by.get((v, s))
            if r is None:
                row.append("")
                continue
            cell = f"{r['ratio_to_dropout']:.2f}x"
            if r.get("ratio_ci_low") is not None:
                cell += f" [{r['ratio_ci_low']:.2f}, {r['ratio_ci_high']:.2f}]"
            cell += f" ({r['mean_s']:.3f} s)"
            target = targets.get(v.split("@")[0], {}).get(s)
            if target is not None:
                cell += f" target <= {target}x: {'met' if r['ratio_to_dropout'] <= target else 'NOT met'}"
            row.append(cell)
        rows.append(row)
    mem = []
    for s in shapes:
        base = by.get(("Dropout", s), {}).get("peak_memory_bytes")
        for v in variants:
            mine = by.get((v, s), {}).get("peak_memory_bytes")
            if base and mine and v != "Dropout":
                verdict = "met" if mine / base <= MEMORY_TARGET else "NOT met"
                mem.append(f"{s} {v}: {mine / base:.2f}x (target <= {MEMORY_TARGET}x: {verdict})")
    headers = ["variant"] + [f"{s} (x Dropout [95% CI], mean epoch)" for s in shapes]
    table = tabulate(rows, headers=headers, tablefmt="pipe")
    if mem:
        table += "\n\nPeak device memory vs Dropout:\n" + "\n".join(f"- {m}" for m in mem)
    warnings = sorted({f"{r['variant']} ({r['dataset']}): {w}" for r in records for w in r.get("warnings") or []})
    if warnings:
        table += "\n\nWarnings:\n" + "\n".join(f"- {w}" for w in warnings)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--variants", default="all")
    p.add_argument("--steps-per-epoch", default="5", help="N, or per shape: cifar10=10,speech_commands=3,rcv1=10")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--rates", default="0.5", help="Comma-separated: one timeit run per rate and shape.")
    p.add_argument("--max-minutes", type=float, help="Per shape: stop after the round that passes this.")
    p.add_argument("--out", help="Markdown file for the table and the raw records.")
    args = p.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    load_start = os.getloadavg()[0]
    records = []
    for shape in args.shapes.split(","):
        for rate in rates:
            records.extend(run_shape(shape, args, rate, label_rates=len(rates) > 1))
    r0 = records[0]
    head = (
        f"device: {r0['device']} ({r0['machine']}; {cpu_description()}); "
        f"backend {r0['backend']} {r0['backend_version']}; "
        f"jit_compile {r0['jit_compile']}; batch {r0['batch_size']}, units {r0['units']}, rates {args.rates}, "
        f"steps per epoch {args.steps_per_epoch}, {args.epochs} epochs ({args.warmup} warm-up); "
        f"1-minute load {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
        f"measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    table = ratio_table(records)
    print(head)
    print()
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(f"# Epoch time at the paper's shapes\n\n{head}\n\n{table}\n\n## Raw records\n\n```json\n")
            f.write(json.dumps(records, indent=1))
            f.write("\n```\n")


if __name__ == "__main__":
    main()
