"""The rehearsal's load shape: baseline → 1× → 5× → N× the expected peak, each a ramp
then a hold, then a drain to zero users.

``1×`` is ``peak_users`` simulated buyers (FlashSaleUser), each offering
``rps_per_buyer`` requests/s on a fixed schedule (an open model: the offered rate of a
stage is ``users × rps_per_buyer`` whatever the latency); the fixed users (OpsUser, the
low-rate ThrottledUser) run on top of it. See docs/REHEARSAL.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    label: str
    start_s: float
    end_s: float
    users: int  # FlashSaleUsers at the end of the stage
    spawn_rate: float
    multiple: float
    offered_rps: float = 0.0  # users × rps_per_buyer (0 when not given)

    @property
    def level(self) -> str:
        """The stage's key in summary.json: "1x", "5x", "8x" … ("" for the drain)."""
        return "" if self.label == "drain" else f"{self.multiple:g}x"


def levels(multiple: float, baseline: float = 0.2) -> list[float]:
    """Multiples of the peak the shape visits: baseline, 1, 5, then ``multiple``."""
    out = [baseline] if baseline < multiple else []
    out += [m for m in (1.0, 5.0) if baseline < m < multiple]
    return out + [float(multiple)]


def build_stages(duration_s: float, multiple: float, peak_users: int,
                 baseline: float = 0.2, ramp_share: float = 0.3,
                 drain_share: float = 0.08, rps_per_buyer: float = 0.0) -> list[Stage]:
    """Ramp/hold stages that fill ``duration_s``; the last one drains to 0 users."""
    if duration_s <= 0 or multiple <= 0 or peak_users <= 0:
        raise ValueError("duration, multiple and peak users must be positive")
    drain = max(2.0, drain_share * duration_s)
    lv = levels(multiple, baseline)
    seg = (duration_s - drain) / len(lv)
    stages: list[Stage] = []
    t, users = 0.0, 0
    for m in lv:
        target = max(1, round(m * peak_users))
        ramp = max(1.0, ramp_share * seg)
        rate = max(1.0, abs(target - users) / ramp)
        offered = round(target * rps_per_buyer, 2)
        stages.append(Stage(f"ramp {m:g}x", t, t + ramp, target, rate, m, offered))
        stages.append(Stage(f"hold {m:g}x", t + ramp, t + seg, target, rate, m, offered))
        t, users = t + seg, target
    stages.append(Stage("drain", t, duration_s, 0, max(1.0, users / max(1.0, drain / 2)), 0.0))
    return stages


def stage_at(stages: list[Stage], t: float) -> Stage | None:
    for s in stages:
        if t < s.end_s:
            return s
    return None


def burst_window(stages: list[Stage], start: float = 0.2, end: float = 0.7) -> tuple[float, float]:
    """When the kill-switch phase runs: the middle of the top hold (seconds from start)."""
    top = [s for s in stages if s.label.startswith("hold")][-1]
    span = top.end_s - top.start_s
    return top.start_s + start * span, top.start_s + end * span


def settle_s(hold_s: float, rps_per_buyer: float) -> float:
    """How much of a hold to skip before measuring it: the buyers spawned at the end
    of the ramp reach their schedule within one interval; at most 40 % of the hold."""
    interval = 1.0 / rps_per_buyer if rps_per_buyer > 0 else 1.0
    return min(interval + 1.0, 0.4 * hold_s)


def buyers_for(rps: float, rps_per_buyer: float) -> int:
    """Buyers that offer ``rps`` at ``rps_per_buyer`` each (at least one)."""
    return max(1, round(rps / rps_per_buyer))


def stop_timeout_s(rps_per_buyer: float) -> float:
    """Seconds a stopping buyer gets to finish its order on its schedule (three slots)
    with room for slow answers (Locust's ``--stop-timeout``)."""
    return max(30.0, 3.0 / rps_per_buyer + 10.0)


def may_end(t: float, load_end: float, flush_s: float, users_left: int,
            stop_timeout: float) -> bool:
    """Whether a run whose load ended at ``load_end`` (run time) may stop at ``t``:
    ``flush_s`` after (the workers' last reports), once every user has stopped on its
    own, or at the latest ``stop_timeout`` after. A user still in a request when Locust
    quits leaves a change the server made and no event records (a commit, a restock, a
    sync), and the audit would find units it cannot explain."""
    if t < load_end + flush_s:
        return False
    return users_left == 0 or t >= load_end + stop_timeout
