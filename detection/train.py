"""``python -m detection.train CONFIG``: train the aerial person detector (detection.training)."""

from __future__ import annotations

import sys

from detection.training.run import main

if __name__ == "__main__":
    sys.exit(main())
