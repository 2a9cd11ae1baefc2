"""`python -m app.demo [options]`: the same as `specloop demo`."""

import sys

from app.demo.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
