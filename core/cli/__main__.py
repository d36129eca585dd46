"""`python -m core.cli`: the nerloop command line."""
from core.cli import main

raise SystemExit(main())
