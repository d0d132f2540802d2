"""What each program's test concluded, for the session summary (a plain module, so the test
module and conftest.py share one dict however pytest names them)."""

from __future__ import annotations

# program -> "match" | "mismatch" | "deliberate" | "deliberate-broken" | "error" (no Celery observation)
OUTCOMES: dict[str, str] = {}
