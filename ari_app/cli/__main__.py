"""``python -m ari_app.cli``: the ``callback`` command without the installed script (workers, tests)."""

import sys

from . import main

sys.exit(main())
