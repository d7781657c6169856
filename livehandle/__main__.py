"""``python -m livehandle``: the command-line entry point (see :mod:`livehandle._cli`)."""

from __future__ import annotations

import sys

from livehandle._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
