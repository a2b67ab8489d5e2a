"""Rendering of timing records (paper Table IV): Rich table, CSV, JSON, Markdown, LaTeX."""

from __future__ import annotations

import csv
import io
import json

from pernode_cli.schema import TIMING_COLUMNS, TimingRecord
from pernode_cli.stats.timing import cell_text, few_rounds_note, table_fields

FORMATS = ("table", "csv", "json", "markdown", "latex")


def header_lines(records: list[TimingRecord]) -> list[str]:
    r = records[0]
    samplers = ", ".join(f"{x.variant}: {x.sampler}" for x in records if x.sampler)
    return [
        f"device: {r.device} ({r.machine}); backend: {r.backend} {r.backend_version}; jit_compile: {r.jit_compile}",
        f"batch {r.batch_size}, units {r.units}, rate {r.rate}, {r.steps_per_epoch} steps per epoch, {r.data} data",
        f"samplers: {samplers or 'none (no PerNode variant)'}",
    ]


def title(records: list[TimingRecord]) -> str:
    return f"{records[0].dataset}: epoch time per variant (warm-up epochs excluded)"


INDISTINCT = "interval holds 1.0: not distinguishable from Dropout"


def _cell(record: TimingRecord, field: str) -> str:
    text = cell_text(record, field)
    return text + " *" if field == "ratio_ci_low" and record.indistinct_from_dropout else text


def _rows(records: list[TimingRecord], narrow: bool = False) -> tuple[list[str], list[list[str]]]:
    cols = table_fields(narrow)
    return [h for h, _, _ in cols], [[_cell(r, f) for _, f, _ in cols] for r in records]


def footnotes(records: list[TimingRecord]) -> list[str]:
    notes = [f"* {INDISTINCT}"] if any(r.indistinct_from_dropout for r in records) else []
    rounds = records[0].rounds
    if rounds:
        notes.append(f"{rounds} interleaved rounds ({records[0].n} timed); 95% CI: paired bootstrap over rounds")
    few = few_rounds_note(records[0].n)
    return notes + ([f"Note: {few}"] if few and any(r.ratio_ci_low is not None for r in records) else [])


def print_warnings(records: list[TimingRecord], console) -> None:
    """One line per warning (outlier epochs, high variation, busy machine), once each."""
    seen = []
    for r in records:
        for w in r.warnings:
            line = w if w.startswith("busy machine") else f"{r.variant}: {w}"
            if line not in seen:
                seen.append(line)
    for line in seen:
        console.print(f"[yellow]warning:[/yellow] {line}", soft_wrap=True)


def to_csv(records: list[TimingRecord]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TIMING_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in records:
        writer.writerow(r.to_dict())
    return buf.getvalue()


def to_text(records: list[TimingRecord], fmt: str) -> str:
    """Markdown (``pipe``) or LaTeX (``latex_booktabs``) with the run's header lines."""
    from tabulate import tabulate

    headers, rows = _rows(records)
    if fmt == "markdown":
        head = "\n".join(f"- {line}" for line in header_lines(records))
        notes = "".join(f"\n\n{n}" for n in footnotes(records))
        return head + "\n\n" + tabulate(rows, headers=headers, tablefmt="pipe") + notes
    head = "\n".join(f"% {line}" for line in [title(records), *header_lines(records)])
    notes = "".join(f"\n% {n}" for n in footnotes(records))
    return head + "\n" + tabulate(rows, headers=headers, tablefmt="latex_booktabs") + notes


def render(records: list[TimingRecord], fmt: str) -> str | None:
    """Text for the machine-readable formats; None for ``table`` (printed with Rich)."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in records], indent=2, allow_nan=False)
    if fmt == "csv":
        return to_csv(records)
    if fmt in ("markdown", "latex"):
        return to_text(records, fmt)
    return None


def print_table(records: list[TimingRecord], console) -> None:
    from rich.table import Table

    for line in header_lines(records):
        console.print(line, soft_wrap=True)
    headers, rows = _rows(records, narrow=console.width < 132)
    table = Table(title=title(records))
    names = max(len(r.variant) for r in records)
    for head in headers:  # variant names are never cut (PerNodeBernoulli vs PerNodeBernoulli_Fixed)
        table.add_column(head, justify="left" if head == "Variant" else "right", no_wrap=head == "Variant",
                         min_width=names if head == "Variant" else None)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in footnotes(records):
        console.print(note, soft_wrap=True)
