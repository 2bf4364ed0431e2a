"""``python -m convbench``: the command line, as the ``convbench`` script runs it."""

from convbench.cli import main

main()
