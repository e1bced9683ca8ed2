"""`python -m evolve.migrations`: developer commands for schema revisions."""

import sys

from evolve.migrations import main

sys.exit(main())
