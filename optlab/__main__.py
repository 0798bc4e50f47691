"""``python -m optlab``: the command line (see optlab.cli)."""

import sys

from optlab.cli import main

sys.exit(main())
