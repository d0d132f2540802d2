"""The scale curves of `make bench` (Motet only): each curve is one scenario run at a ladder
of sizes on one fresh cluster (`bench.sidebyside.motet_round` with ``--curve``). Rendered as
tables for docs/performance.md and as a PNG plot (matplotlib, from the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.scenarios import CURVES

__all__ = ["plot", "tables"]


def _rows(entries: list[dict[str, Any]]) -> list[dict[str, float]]:
    rows = []
    for e in sorted(entries, key=lambda e: e["size"]):
        per = e.get("per_task", {})
        rows.append(
            {
                "size": e["size"],
                "seconds": e["figures"]["seconds"],
                "ms_per": e["figures"]["seconds"] * 1000 / e["size"],
                "bytes_per": per.get("etcd_bytes_in", float("nan")),
                "txn_per": per.get("txn", float("nan")),
            }
        )
    return rows


def _verdict(rows: list[dict[str, float]], member: str) -> str:
    """How the per-member cost moves from the first size of at least 100 to the largest."""
    base = next((r for r in rows if r["size"] >= 100), None)
    last = rows[-1] if rows else None
    if base is None or last is None or last["size"] == base["size"]:
        return "Too few sizes to tell a trend."
    t = last["ms_per"] / base["ms_per"]
    b = last["bytes_per"] / base["bytes_per"] if base["bytes_per"] else float("nan")
    shape = "flat (linear in N)" if t < 1.5 else f"{t:.1f}x higher (worse than linear)"
    return (
        f"From N={base['size']:,} to N={last['size']:,} the time per {member} changes {t:.2f}x and the "
        f"bytes sent to etcd per {member} {b:.2f}x: {shape}."
    )


def tables(curves: dict[str, list[dict[str, Any]]]) -> list[str]:
    """A table and a one-line verdict per curve."""
    lines: list[str] = []
    for name, entries in curves.items():
        curve = CURVES[name]
        rows = _rows(entries)
        lines += [
            f"### {curve.title}",
            "",
            f"| N | seconds | ms per {curve.member} | bytes sent to etcd per {curve.member} | "
            f"etcd txns per {curve.member} |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['size']:,} | {r['seconds']:.3f} | {r['ms_per']:.2f} | {r['bytes_per']:,.0f} | "
                f"{r['txn_per']:.2f} |"
            )
        lines += ["", _verdict(rows, curve.member), ""]
    return lines


def plot(curves: dict[str, list[dict[str, Any]]], path: Path) -> bool:
    """Writes the curves as a PNG (time and etcd bytes per member against N, log x); False
    when matplotlib is not installed (``pip install -e '.[bench]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, entries in curves.items():
        rows = _rows(entries)
        sizes = [r["size"] for r in rows]
        left.plot(sizes, [r["ms_per"] for r in rows], marker="o", label=CURVES[name].title)
        right.plot(sizes, [r["bytes_per"] for r in rows], marker="o", label=CURVES[name].title)
    for ax, label in ((left, "ms per member / step"), (right, "bytes sent to etcd per member / step")):
        ax.set_xscale("log")
        ax.set_xlabel("N")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle("Motet scale curves: a flat line is a cost linear in N")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
