"""``python -m allocator`` is the ``allocator`` command."""

import sys

from allocator.cli import main

sys.exit(main())
