"""The ``livehandle`` console script (``[project.scripts]`` in pyproject.toml).

Installing livehandle puts a ``livehandle`` command on the PATH that does what
``python -m livehandle`` does: ``livehandle demo``, ``livehandle talk ...``,
``livehandle --version``; only usage and help name it ``livehandle``.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from livehandle._cli import main

__all__ = ["console_main"]


def console_main() -> NoReturn:
    """Run the command line on ``sys.argv[1:]`` and exit with its status."""
    sys.exit(main(prog="livehandle"))
