import sys

from schedcp_node_agent.main import main

sys.exit(main())
