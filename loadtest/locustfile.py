"""Locust entry point of ``allocator rehearse`` (parameters: ``$REHEARSE_PARAMS``)."""

from loadtest.params import Params
from loadtest.shape import RehearsalShape  # noqa: F401
from loadtest.users import FlashSaleUser  # noqa: F401

_p = Params.load()
if _p.ops_users > 0:
    from loadtest.users import OpsUser  # noqa: F401
if _p.throttled_users > 0 and _p.throttled_key:
    from loadtest.users import ThrottledUser  # noqa: F401
