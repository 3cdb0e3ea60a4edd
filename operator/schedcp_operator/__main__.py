import sys

from schedcp_operator.main import main

sys.exit(main())
