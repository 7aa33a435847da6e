"""`python -m benchmarks.tool_use`."""

import sys

from benchmarks.tool_use import main

sys.exit(main())
