"""`python -m motet` behaves like the `motet` command (provided by the services package)."""

from __future__ import annotations

import sys


def _main() -> int:
    try:
        from motet_server.cli.main import main
    except ImportError:
        sys.stderr.write(
            "the motet command needs the Motet services (scheduler, results, worker), which are not "
            "installed here; install the full package (pip install motet) to get `motet dev`\n"
        )
        return 2
    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(_main())
