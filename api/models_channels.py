"""Request and response bodies of the sales-channel endpoints (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.models import NAME_PATTERN, SkuId, Strict


class ChannelRuleIn(Strict):
    """One (SKU, channel) rule; it replaces the one before. Each part in units or as a
    share (0..1) of the SKU's on-hand units, never both; every part null removes it."""

    sku: str = SkuId
    channel: str = Field(pattern=NAME_PATTERN, examples=["own-store"])
    buffer: int | None = Field(
        default=None, ge=0, le=1_000_000_000,
        description="Units kept for this channel: other channels must leave them")
    buffer_share: float | None = Field(default=None, ge=0, le=1,
                                       description="The buffer as a share of on-hand")
    cap: int | None = Field(default=None, ge=0, le=1_000_000_000, description=(
        "The most units this channel may have held + committed at once (0: none)"))
    cap_share: float | None = Field(default=None, ge=0, le=1,
                                    description="The cap as a share of on-hand")


class ChannelRulesIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"rules": [{"sku": "PHONE-0000", "channel": "own-store", "buffer": 20},
                   {"sku": "PHONE-0000", "channel": "marketplace", "cap_share": 0.5}]}]})
    rules: list[ChannelRuleIn] = Field(min_length=1, max_length=1000)


class ChannelRuleOut(BaseModel):
    channel: str
    buffer: int | None
    buffer_share: float | None
    cap: int | None
    cap_share: float | None
    units: int = Field(description="The channel's units of the SKU held + committed now")


class SkuChannelRulesOut(BaseModel):
    sku: str
    rules: list[ChannelRuleOut]


class ChannelRuleValue(BaseModel):
    buffer: int | None
    buffer_share: float | None
    cap: int | None
    cap_share: float | None


class ChannelInventoryOut(BaseModel):
    sku: str
    channel: str
    sellable: int = Field(description="Units this channel may still reserve (all "
                                      "warehouses): within its cap, leaving others' buffers")
    warehouses: dict[str, int] = Field(description="Of which at each warehouse")
    units: int = Field(description="The channel's units held + committed now")
    rule: ChannelRuleValue | None
