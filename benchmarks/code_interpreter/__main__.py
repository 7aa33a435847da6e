"""`python -m benchmarks.code_interpreter`."""

import sys

from benchmarks.code_interpreter import main

sys.exit(main())
