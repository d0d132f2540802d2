"""`python -m motet_server` is the `motet` command."""

import sys

from motet_server.cli.main import main

sys.exit(main())
