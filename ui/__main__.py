"""`python -m ui [--host H] [--port P] [--share false]`: the same as `newsrag serve`.

Delegates to the CLI so both entry points share argument parsing, logging set-up and exit codes.
"""

import sys

from ui.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
