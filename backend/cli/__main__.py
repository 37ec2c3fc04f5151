"""``python -m backend.cli``: the backend's commands without the console script (no ``serve``)."""

import sys

from backend.cli import main

sys.exit(main())
