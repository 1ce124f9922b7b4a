"""`python -m kscript` runs the command-line interface."""

from kscript.cli import main

raise SystemExit(main())
