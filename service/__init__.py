"""The service layer: checkout, inventory and admin use cases.

They take plain values or domain types and raise domain errors
(:mod:`allocator.errors`); only ``api/`` knows pydantic and problem+json, only
``actors/`` knows Ray, only ``storage/`` knows Redis.
"""
