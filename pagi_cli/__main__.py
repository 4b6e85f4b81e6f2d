"""`python -m pagi_cli`: the `pagi` command."""

import sys

from .main import main

sys.exit(main())
