"""HTTP API for checkout and ops (FastAPI). See docs/API.md.

:func:`api.app.create_app` builds the app; ``allocator serve`` runs it under uvicorn.
"""
