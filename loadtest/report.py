"""The rehearsal's report folder: Locust's CSV/HTML, ``samples.csv`` (units held and
committed over time), ``chart.png`` and ``summary.json``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _history(prefix: Path) -> list[dict[str, str]]:
    return [r for r in read_csv(Path(f"{prefix}_stats_history.csv"))
            if r.get("Name") == "Aggregated" and _f(r.get("Timestamp")) is not None]


def rate_series(hist: list[dict[str, str]], window_s: float = 3.0) -> list[tuple[float, float]]:
    """(timestamp, requests/s over the last ``window_s``) from the cumulative counts
    (Locust's own Requests/s column lags behind by its 10 s window)."""
    pts = [(_f(r["Timestamp"]) or 0.0, _f(r.get("Total Request Count")) or 0.0) for r in hist]
    out = []
    j = 0
    for t, n in pts:
        while j < len(pts) and pts[j][0] < t - window_s:
            j += 1
        t0, n0 = pts[j] if pts[j][0] < t else (t, n)
        out.append((t, (n - n0) / (t - t0) if t > t0 else 0.0))
    return out


def stage_rates(prefix: Path, stages: list[Any]) -> list[dict[str, Any]]:
    """Requests/s achieved in each stage (from the cumulative request counts)."""
    hist = _history(prefix)
    if not hist:
        return []
    pts = [(_f(r["Timestamp"]) or 0.0, _f(r.get("Total Request Count")) or 0.0,
            _f(r.get("User Count")) or 0.0) for r in hist]
    t_start = pts[0][0]
    out = []
    for s in stages:
        inside = [p for p in pts if s.start_s <= p[0] - t_start <= s.end_s]
        rps = ((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
               if len(inside) >= 2 and inside[-1][0] > inside[0][0] else None)
        out.append({"label": s.label, "start_s": round(s.start_s, 1),
                    "end_s": round(s.end_s, 1), "buyers": s.users,
                    "rps": None if rps is None else round(rps, 1)})
    return out


def locust_totals(prefix: Path) -> dict[str, Any]:
    """The Aggregated row of ``<prefix>_stats.csv`` and the peak of the history."""
    rows = read_csv(Path(f"{prefix}_stats.csv"))
    agg = next((r for r in rows if r.get("Name") == "Aggregated"), {})
    hist = _history(prefix)
    peak_rps = max((v for _, v in rate_series(hist, 5.0)), default=0.0)
    users = max((_f(r.get("User Count")) or 0.0 for r in hist), default=0.0)
    per_name = {r["Name"]: {"requests": int(_f(r.get("Request Count")) or 0),
                            "failures": int(_f(r.get("Failure Count")) or 0),
                            "p50_ms": _f(r.get("50%")), "p99_ms": _f(r.get("99%"))}
                for r in rows if r.get("Name") and r.get("Name") != "Aggregated"}
    return {"requests": int(_f(agg.get("Request Count")) or 0),
            "failures": int(_f(agg.get("Failure Count")) or 0),
            "rps": round(_f(agg.get("Requests/s")) or 0.0, 1),
            "peak_rps": round(peak_rps, 1),
            "p50_ms": _f(agg.get("50%")), "p99_ms": _f(agg.get("99%")),
            "max_users": int(users), "by_request": per_name}


def offered_series(meter: Any) -> list[tuple[float, float]]:
    """(wall time, offered req/s) steps from the meter's phases (ramps included)."""
    pts: list[tuple[float, float]] = []
    prev = 0.0
    phases = getattr(meter, "phases", []) or []
    for i, ph in enumerate(phases):
        t, rps = float(ph["start"]), float(ph.get("offered_rps") or 0.0)
        if str(ph.get("label", "")).startswith("ramp") and i + 1 < len(phases):
            pts += [(t, prev), (float(phases[i + 1]["start"]), rps)]  # buyers join
        else:
            pts += [(t, prev), (t, rps)]
        prev = rps
    if pts and getattr(meter, "seconds", None):
        pts.append((float(max(meter.seconds) + 1), prev))
    return pts


def write_chart(prefix: Path, samples: list[dict[str, float]], out: Path,
                marks: list[tuple[float, str]] = (), title: str = "", meter: Any = None,
                knee: dict[str, Any] | None = None, capacity_rps: float | None = None,
                judged: list[Any] = (), slo_p99_ms: float | None = None) -> Path:
    """requests/s (offered by the buyers' schedule, answered), p50/p99, failures/s and
    units held/committed against time; the knee (the first stage or step that missed
    the SLO) as a red line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = _history(prefix)
    t0 = min([_f(r["Timestamp"]) or 0 for r in hist] + [s["t"] for s in samples] or [0])
    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    ht = [(_f(r["Timestamp"]) or 0) - t0 for r in hist]

    def series(key: str) -> list[float]:
        return [(_f(r.get(key)) or 0.0) for r in hist]

    axes[0].plot(ht, [v for _, v in rate_series(hist)], label="all requests/s (3 s window)",
                 alpha=0.5)
    axes[0].plot(ht, series("User Count"), label="users", alpha=0.4)
    if meter is not None and meter.seconds:
        off = offered_series(meter)
        axes[0].plot([t - t0 for t, _ in off], [v for _, v in off], color="black",
                     linestyle="--", label="offered by the buyers (req/s)")
        secs = sorted(meter.seconds)
        axes[0].plot([k + 0.5 - t0 for k in secs], [meter.seconds[k].ok for k in secs],
                     color="tab:green", label="buyers answered (req/s)")
    if capacity_rps:
        axes[0].axhline(capacity_rps, color="tab:red", linestyle=":", linewidth=1)
    if knee:
        for ax in axes:
            ax.axvline(knee["t"] - t0, color="tab:red", linewidth=1.5)
        axes[0].annotate(knee["label"], (knee["t"] - t0, knee.get("rps") or 0), color="tab:red",
                         fontsize=8, xytext=(4, 4), textcoords="offset points")
    axes[0].set_ylabel("req/s, users")
    axes[1].plot(ht, series("50%"), label="p50 ms (Locust, all)")
    axes[1].plot(ht, series("99%"), label="p99 ms (Locust, all)")
    for i, r in enumerate(judged):  # each judged window's own p99, green or red
        if r.p99_ms is not None and r.window[1] > r.window[0]:
            axes[1].hlines(r.p99_ms, r.window[0] - t0, r.window[1] - t0, linewidth=3,
                           color="tab:green" if r.held else "tab:red",
                           label="buyers' p99 of a judged window" if i == 0 else None)
    if slo_p99_ms:
        axes[1].axhline(slo_p99_ms, color="black", linestyle="--", linewidth=1,
                        label=f"SLO p99 {slo_p99_ms:g} ms")
    axes[1].set_ylabel("latency (ms)")
    axes[2].plot(ht, series("Failures/s"), label="failures/s", color="tab:red")
    axes[2].set_ylabel("failures/s")
    st = [s["t"] - t0 for s in samples]
    axes[3].plot(st, [s["held"] for s in samples], label="units held")
    axes[3].plot(st, [s["committed"] for s in samples], label="units committed")
    axes[3].set_ylabel("units")
    axes[3].set_xlabel("seconds")
    for ax in axes:
        for t, label in marks:
            ax.axvline(t - t0, color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    for t, label in marks:
        axes[0].annotate(label, (t - t0, 0), fontsize=7, rotation=90, va="bottom")
    fig.suptitle(title or "rehearsal")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def write_samples(samples: list[dict[str, float]], out: Path) -> None:
    keys = ["t", "held", "committed", "on_hand", "pending_holds", "machine_cpu_pct"]
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for s in samples:
            w.writerow(s)


def write_summary(summary: dict[str, Any], out: Path) -> None:
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def render(summary: dict[str, Any]) -> str:
    """A short console report."""
    s = summary
    if s.get("mode") == "find-capacity":
        head = (f"capacity search {s['verdict'].upper()}: {len(s.get('capacity_steps', []))} "
                f"steps (up to {s.get('max_users', 0)} users), {s['duration_s']:g} s "
                f"against {s['host']}")
    else:
        head = (f"rehearsal {s['verdict'].upper()}: {s['peak_multiple']:g}x the peak of "
                f"{s.get('expected_peak_rps', '?')} req/s ({s.get('max_users', 0)} users), "
                f"{s['duration_s']:g} s against {s['host']}")
    lines = [
        head,
        f"  traffic   {s['requests']} requests, {s['rps']} req/s mean, {s['peak_rps']} peak; "
        f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms",
        f"  refusals  429 rate-limited {s['rate_limited_429']}, 503 overloaded "
        f"{s['overloaded_503']}, 423 kill switch {s['kill_switch_423']}, "
        f"409 sold out {s['sold_out_409']} (expected, not failures)",
        f"  failures  {s['failures']} (server errors {s['server_errors']})",
        f"  audit     oversold {s['oversold']}, lost units {s['lost_units']}, leaked holds "
        f"{s['leaked_holds']}; {s['audit']['confirmed_commits']} commits = "
        f"{s['audit']['confirmed_commit_units']} units confirmed, "
        f"{s['audit']['ledger_committed_units']} in the ledger",
    ]
    lines[1:1] = stage_lines(s)
    ks = s.get("kill_switch") or {}
    if ks.get("sku"):
        lines.append(f"  kill sw.  {ks['sku']} off for {ks.get('seconds', 0):g} s: "
                     f"{ks.get('rejected', 0)} reservations refused (423), "
                     f"{ks.get('commits_during', 0)} other commits went on")
    for p in s["audit"].get("problems", [])[:10]:
        lines.append(f"  PROBLEM   {p}")
    for w in s.get("warnings", []):
        lines.append(f"  WARNING   {w}")
    for r in s.get("reasons", []):
        lines.append(f"  FAIL      {r}")
    lines.append(f"  report    {s['report_dir']} (report.html, chart.png, summary.json)")
    return "\n".join(lines)


def stage_lines(s: dict[str, Any]) -> list[str]:
    """One console line per judged stage (or capacity step): offered, achieved, p99."""
    out = [f"  SLO       p99 <= {s.get('slo_p99_ms')} ms, errors <= "
           f"{100 * (s.get('max_error_rate') or 0):g} %, achieved >= "
           f"{100 * (s.get('min_achieved_ratio') or 0):g} % of offered; generator "
           f"{s.get('generator_cpu_cores')} cores at most"]
    busy = s.get("stage_machine_cpu_pct") or {}
    for r in s.get("stage_results", []):
        ratio = (f"{100 * r['achieved_rps'] / r['offered_rps']:.0f} %"
                 if r.get("offered_rps") else "-")
        cpu = f"generator {r['generator_cpu_cores']:g} cores" + (
            f", machine {busy[r['label']]:g} %" if r["label"] in busy else "")
        out.append(f"  {r['label']:>9} offered {r['offered_rps']:g} req/s (sent "
                   f"{r['sent_rps']:g}), achieved {r['achieved_rps']:g} ({ratio}), p99 "
                   f"{r['p99_ms']} ms, errors {100 * r['error_rate']:.2f} % [{cpu}]: "
                   + ("held" if r["held"] else "MISSED (" + "; ".join(r["reasons"]) + ")"))
        per_request = (s.get("stage_cpu_us_per_request") or {}).get(r["label"])
        if per_request:
            out.append(f"  {'':>9} CPU µs per request: " + ", ".join(
                f"{k} {v:g}" for k, v in sorted(per_request.items(), key=lambda kv: -kv[1])))
    if s.get("mode") == "find-capacity":
        cap = s.get("capacity_rps")
        out.append(f"  capacity  {cap if cap is not None else 'none'} req/s"
                   + ("" if s.get("capacity_bounded") else " (a lower bound: no step failed)")
                   + f"; required {s.get('required_rps')} req/s")
    return out
