"""``python -m optlab``: the command line (see optlab.cli.main)."""

import sys

from optlab.cli.main import main

sys.exit(main())
