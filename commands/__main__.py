"""``python -m commands`` is the ``allocator`` command."""

import sys

from commands.main import main

sys.exit(main())
