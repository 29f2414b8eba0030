"""`python -m dashboard.cli`: the `finops` command."""

import sys

from dashboard.cli.finops import main

sys.exit(main())
