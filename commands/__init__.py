"""The ``allocator`` command line: the composition root (:mod:`commands.main`) and one
module per group of subcommands. Nothing below imports from here."""
