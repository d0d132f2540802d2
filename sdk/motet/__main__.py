"""`python -m motet` behaves like the `motet` command."""

import sys

try:
    from motet_server.cli.main import main
except ImportError:  # pragma: no cover - the SDK installed without the services
    sys.exit("the motet command needs the services package (pip install motet)")

sys.exit(main())
