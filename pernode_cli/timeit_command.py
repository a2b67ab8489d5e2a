"""`pernode timeit`: time each variant's epochs and print Table IV. Needs Keras, not TensorFlow."""

from __future__ import annotations

import csv
import io
import json

from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog
from pernode_cli.timing import (
    TIMING_COLUMNS,
    TimingRecord,
    add_ratios,
    check_sampler,
    needs_loader,
    parse_variants,
    time_variant,
    validate,
)

FORMATS = ("table", "csv", "json", "markdown")
TABLE = [  # header, record field, format
    ("Variant", "variant", "{}"),
    ("Mean (s)", "mean_s", "{:.3f}"),
    ("Std", "std_s", "{:.3f}"),
    ("Median", "median_s", "{:.3f}"),
    ("Min", "min_s", "{:.3f}"),
    ("Max", "max_s", "{:.3f}"),
    ("n", "n", "{}"),
    ("x Dropout", "ratio_to_dropout", "{:.2f}"),
    ("Peak mem (MiB)", "peak_memory_bytes", "{:.0f}"),
    ("Warm-up (s)", "warmup_s", "{}"),
]


def _cell(record: TimingRecord, field: str, fmt: str) -> str:
    value = getattr(record, field)
    if value is None:
        return "n/a"
    if field == "peak_memory_bytes":
        value = value / 2**20
    if field == "warmup_s":
        return ", ".join(f"{v:.2f}" for v in value) or "-"
    return fmt.format(value)


def header_lines(records: list[TimingRecord]) -> list[str]:
    r = records[0]
    samplers = ", ".join(f"{x.variant}: {x.sampler}" for x in records if x.sampler)
    return [
        f"device: {r.device} ({r.machine}); backend: {r.backend} {r.backend_version}; jit_compile: {r.jit_compile}",
        f"batch {r.batch_size}, units {r.units}, rate {r.rate}, {r.steps_per_epoch} steps per epoch, {r.data} data",
        f"samplers: {samplers or 'none (no PerNode variant)'}",
    ]


def render_timings(records: list[TimingRecord], fmt: str) -> str | None:
    if fmt == "json":
        return json.dumps([r.to_dict() for r in records], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=TIMING_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for r in records:
            writer.writerow(r.to_dict())
        return buf.getvalue()
    if fmt == "markdown":
        from tabulate import tabulate

        rows = [[_cell(r, f, x) for _, f, x in TABLE] for r in records]
        head = "\n".join(f"- {line}" for line in header_lines(records))
        return head + "\n\n" + tabulate(rows, headers=[h for h, _, _ in TABLE], tablefmt="pipe")
    return None


def run_timeit_command(*, dataset, variants, rate, units, batch_size, epochs, warmup, steps_per_epoch,
                       data, data_dir, log, fmt, quiet, sampler=None) -> None:
    if fmt not in FORMATS:
        raise PernodeError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    names = parse_variants(variants)
    validate(dataset, epochs, warmup, batch_size, units, rate, steps_per_epoch, data)
    check_sampler(sampler, names)
    csv_log = CsvLog(log, TIMING_COLUMNS) if log else None
    from rich.console import Console
    from rich.table import Table

    err = Console(stderr=True, quiet=quiet, highlight=False)
    loaded = None
    if needs_loader(dataset, data):  # read the data once for all variants
        from pernode_cli.data import load_dataset

        loaded = load_dataset(dataset, data_dir, 0)
    records = []
    for name in names:
        err.print(f"timing {name} on {dataset}: {epochs} epochs ({warmup} warm-up)")
        record = time_variant(
            name, dataset, rate=rate, units=units, batch_size=batch_size, epochs=epochs, warmup=warmup,
            steps_per_epoch=steps_per_epoch, data=data, data_dir=data_dir, sampler=sampler, loaded=loaded,
            on_epoch=lambda e, s: err.print(f"  epoch {e}: {s:.3f} s"),
        )
        records.append(record)
    add_ratios(records)
    if csv_log:
        for r in records:
            row = r.to_dict()
            row["warmup_s"] = ";".join(f"{v:.4f}" for v in r.warmup_s)
            csv_log.append(row)
    text = render_timings(records, fmt)
    if text is not None:
        print(text)
        return
    out = Console(highlight=False, width=max(Console().width, 132))
    for line in header_lines(records):
        out.print(line, soft_wrap=True)
    table = Table(title=f"{records[0].dataset}: epoch time per variant (warm-up epochs excluded)")
    for head, _, _ in TABLE:
        table.add_column(head, justify="left" if head in ("Dataset", "Variant") else "right", no_wrap=head == "Variant")
    for r in records:
        table.add_row(*(_cell(r, f, x) for _, f, x in TABLE))
    out.print(table)
