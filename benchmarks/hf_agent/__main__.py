"""`python -m benchmarks.hf_agent`."""

import sys

from benchmarks.hf_agent import main

sys.exit(main())
