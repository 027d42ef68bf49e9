"""``python -m mfcomm.cli``: the ``mfcomm`` command (the node launcher and the tests start it this way)."""

import sys

from mfcomm.cli import main

if __name__ == "__main__":
    sys.exit(main())
