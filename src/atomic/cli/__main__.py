"""`python -m atomic.cli`: the same as the `atomic` command."""

from atomic.cli import main

main()
