"""Routing errors: subclasses of the allocator's hierarchy, each with a stable ``code``."""

from __future__ import annotations

from allocator.errors import CatalogError, InvalidRequest


class NetworkFileError(CatalogError):
    """A network or stock file is missing, unreadable or malformed."""

    code = "invalid_network"


class UnknownDestination(InvalidRequest):
    """The order's destination pincode is not in the network."""

    code = "unknown_destination"
