"""``python -m designer`` is the ``netdesigner`` command."""

import sys

from designer.cli import main

sys.exit(main())
