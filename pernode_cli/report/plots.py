"""PNG figures of a ranking (matplotlib, Agg): paper Fig. 2 and 3 and a critical-difference diagram."""

from __future__ import annotations

from pathlib import Path

from pernode_cli.stats.ranking import Ranking, metric_label


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def best3_bars(r: Ranking, path: Path, plt) -> None:
    """The best three values of the metric per variant, variants sorted best first."""
    rows = r.top_rows
    fig, ax = plt.subplots(figsize=(9, 4.5))
    order = [v.variant for v in r.variants]
    width, key = 0.8 / 3, metric_label(r.metric)
    for i in range(3):
        vals = []
        for v in order:
            mine = [row for row in rows if row["Variant"] == v]
            vals.append(mine[i][key] if i < len(mine) else float("nan"))
        ax.bar([j + (i - 1) * width for j in range(len(order))], vals, width, label=f"#{i + 1}")
    ax.set_xticks(range(len(order)), order, rotation=35, ha="right")
    ax.set_ylabel(r.metric)
    ax.set_title(f"{r.dataset}: best three {r.metric} per variant")
    ax.legend()
    lo = min(v.best for v in r.variants)
    ax.set_ylim(bottom=lo * 0.95 if lo > 0 else None)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def loss_scatter(r: Ranking, path: Path, plt) -> None:
    """Validation loss against the epoch-end training loss of each variant's best records."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for v in r.variants:
        mine = [row for row in r.top_rows if row["Variant"] == v.variant and "T-Loss" in row]
        ax.scatter([row["T-Loss"] for row in mine], [row["V-Loss"] for row in mine], label=v.variant)
    ax.set_xlabel("epoch-end training loss")
    ax.set_ylabel("validation loss")
    ax.set_title(f"{r.dataset}: validation vs epoch-end training loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cd_diagram(r: Ranking, path: Path, plt) -> None:
    """Within-block mean ranks on an axis, with the Nemenyi critical difference as a bar and
    lines joining variants whose mean ranks differ by less than it."""
    k, cd = r.friedman.k, r.friedman.critical_difference
    ranks = sorted((v.mean_rank, v.variant) for v in r.variants)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.3 * k))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-k - 1, 2)
    ax.axhline(0, color="black", lw=1)
    for x in range(1, k + 1):
        ax.plot([x, x], [0, 0.15], color="black", lw=1)
        ax.text(x, 0.3, str(x), ha="center", fontsize=8)
    for i, (rank, name) in enumerate(ranks):
        y = -(i + 1)
        ax.plot([rank, rank], [0, y], color="gray", lw=0.8)
        ax.text(rank + 0.05, y, f"{name} ({rank:.2f})", va="center", fontsize=8)
    ax.plot([1, 1 + cd], [1.2, 1.2], color="red", lw=2)
    ax.text(1 + cd / 2, 1.45, f"CD = {cd:.2f}", ha="center", color="red", fontsize=8)
    # Groups not significantly different: maximal runs within one CD.
    level = 0
    for i in range(k):
        j = max(j for j in range(i, k) if ranks[j][0] - ranks[i][0] < cd)
        if j > i and (i == 0 or ranks[j][0] - ranks[i - 1][0] >= cd):
            ax.plot([ranks[i][0], ranks[j][0]], [-0.4 - 0.2 * level, -0.4 - 0.2 * level], color="blue", lw=3)
            level += 1
    ax.axis("off")
    ax.set_title(f"{r.dataset}: mean ranks by {r.metric} (Nemenyi, alpha 0.05)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(rankings: list[Ranking], folder) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    written = []
    for r in rankings:
        base = _safe(r.dataset)
        for suffix, fn in (("best3", best3_bars), ("scatter", loss_scatter), ("cd", cd_diagram)):
            path = folder / f"{base}_{suffix}.png"
            fn(r, path, plt)
            written.append(path)
    return written
