"""`python -m core`: the nerloop command line."""
from core.cli import main

raise SystemExit(main())
