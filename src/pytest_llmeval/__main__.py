"""`python -m pytest_llmeval`: the `llmeval` command (e.g. `check-data`)."""

from __future__ import annotations

import sys

from pytest_llmeval.cli import main

if __name__ == "__main__":
    sys.exit(main())
