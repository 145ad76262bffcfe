"""``python -m nbprop``: see :mod:`nbprop.cli`."""

import sys

from .cli import main

sys.exit(main())
