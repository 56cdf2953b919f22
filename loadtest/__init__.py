"""Flash-sale rehearsals: Locust users and a load shape, a runner that starts the
stack (or targets a deployed one), an invariant audit, and a report.

``allocator rehearse`` (see :mod:`commands.rehearse` and docs/REHEARSAL.md) is the entry
point. The users talk to the API over HTTP only; the audit compares what clients were
told against the stock ledger.
"""
