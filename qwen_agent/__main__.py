from qwen_agent.cli import main

raise SystemExit(main())
