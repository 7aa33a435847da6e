"""`python -m benchmarks.extract_hf_agent_tasks`: runs `benchmarks.hf_agent.extract_tasks` (the name kept from the flat layout)."""

import sys

from benchmarks.hf_agent.extract_tasks import main

if __name__ == "__main__":
    sys.exit(main())
