"""Prints the last run's observations side by side: ``python -m tests.conformance.show [NAME...]``
(default: the programs whose observations differ). Reads .cache/conformance-last/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

LAST_RUN = Path(__file__).resolve().parents[2] / ".cache" / "conformance-last"


def _load(name: str) -> dict[str, dict]:
    out = {}
    path = LAST_RUN / name
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "program" in entry:
                out[entry["program"]] = entry
    return out


def main(argv: list[str]) -> int:
    celery, motet = _load("celery-observations.jsonl"), _load("motet-observations.jsonl")
    names = argv or [n for n in motet if n in celery and celery[n]["obs"] != motet[n]["obs"]]
    for name in names:
        c, m = celery.get(name, {}), motet.get(name, {})
        print(f"== {name}  (celery {c.get('seconds')} s, motet {m.get('seconds')} s)")
        print("  celery:", json.dumps(c.get("obs"), sort_keys=True))
        print("  motet: ", json.dumps(m.get("obs"), sort_keys=True))
        for side, entry in (("celery", c), ("motet", m)):
            if "traceback" in entry:
                print(f"  {side} traceback:", entry["traceback"].strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
