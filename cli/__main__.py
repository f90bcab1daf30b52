"""``python -m skillgap.cli``: the same as the ``skillgap`` command."""

import sys

from . import main

sys.exit(main())
