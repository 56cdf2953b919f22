"""``python -m routing route|bench route``: the routing CLI before it is wired into allocator."""

from routing.cli import main

raise SystemExit(main())
