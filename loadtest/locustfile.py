"""Locust entry point of ``allocator rehearse`` (parameters: ``$REHEARSE_PARAMS``).

Only Locust processes import this (Locust monkey-patches the standard library with
gevent on import, which the rehearsal runner, a Ray driver, must not get)."""

from locust import LoadTestShape

from loadtest.params import Params
from loadtest.shape import build_stages, stage_at
from loadtest.users import FlashSaleUser  # noqa: F401

_p = Params.load()
if _p.ops_users > 0:
    from loadtest.users import OpsUser  # noqa: F401
if _p.throttled_users > 0 and _p.throttled_key:
    from loadtest.users import ThrottledUser  # noqa: F401


class RehearsalShape(LoadTestShape):
    """baseline → 1× → 5× → N× the peak, ramps and holds, then drain (loadtest.shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = build_stages(_p.duration_s, _p.multiple, _p.peak_users, _p.baseline)
        self.fixed = max(0, _p.ops_users) + (
            max(0, _p.throttled_users) if _p.throttled_key else 0)

    def tick(self):  # type: ignore[override]
        s = stage_at(self.stages, self.get_run_time())
        if s is None:
            return None
        if s.label == "drain":
            return 0, s.spawn_rate
        return s.users + self.fixed, max(s.spawn_rate, float(self.fixed))
