"""One test per corpus program: Motet's observation must equal real Celery 5.7's, except on the
keys a program declares as a deliberate difference (docs/celery-differences.md), where each system must give
its declared answer."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from tests.conformance.corpus import load
from tests.conformance.execute import run_one
from tests.conformance.outcomes import OUTCOMES
from tests.conformance.services import LAST_RUN, CeleryRunner

pytestmark = pytest.mark.conformance

PROGRAMS = load()


def _dump(value: Any) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, default=repr).splitlines()


def _diff(celery: Any, motet: Any) -> str:
    return "\n".join(difflib.unified_diff(_dump(celery), _dump(motet), "celery", "motet", lineterm=""))


def _split(obs: Any, keys: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(obs, dict):
        return {}, {"<observation>": obs}
    return {k: obs.get(k, "<missing>") for k in keys}, {k: v for k, v in obs.items() if k not in keys}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program(name: str, celery_side: CeleryRunner, motet_side: Any) -> None:
    prog = PROGRAMS[name]
    motet_entry = run_one(prog, motet_side)
    with (LAST_RUN / "motet-observations.jsonl").open("a") as fh:
        fh.write(json.dumps(motet_entry, sort_keys=True) + "\n")
    try:
        celery_entry = celery_side.observation(name, timeout=280)
    except RuntimeError:
        OUTCOMES[name] = "error"
        raise
    celery, motet = celery_entry["obs"], motet_entry["obs"]
    header = f"{name} (§{prog.section}, {prog.module.rsplit('.', 1)[-1]})"
    for side, entry in (("Celery", celery_entry), ("Motet", motet_entry)):
        if "traceback" in entry:
            print(f"--- {side} program traceback:\n{entry['traceback']}")
    if prog.differs is None:
        if celery == motet:
            if prog.known:
                OUTCOMES[name] = "known-now-matches"
                pytest.fail(f"{header}: now matches Celery; remove its known= mark ({prog.known})", pytrace=False)
            OUTCOMES[name] = "match"
            return
        if prog.known:
            OUTCOMES[name] = "known"
            pytest.xfail(f"known mismatch: {prog.known}\n{_diff(celery, motet)}")
        OUTCOMES[name] = "mismatch"
        pytest.fail(f"{header}: Motet differs from Celery 5.7\n{_diff(celery, motet)}", pytrace=False)
    d = prog.differs
    keys = set(d.celery) | set(d.motet)
    celery_declared, celery_rest = _split(celery, keys)
    motet_declared, motet_rest = _split(motet, keys)
    problems = []
    if celery_declared != d.celery:
        problems.append(
            "real Celery no longer gives the declared Celery observation:\n" + _diff(d.celery, celery_declared)
        )
    if motet_declared != d.motet:
        problems.append(
            f"Motet does not give the observation deliberate difference #{d.design} declares ({d.why}):\n"
            + _diff(d.motet, motet_declared).replace("--- celery", "--- declared")
        )
    if celery_rest != motet_rest:
        problems.append("the undeclared keys differ:\n" + _diff(celery_rest, motet_rest))
    OUTCOMES[name] = "deliberate-broken" if problems else "deliberate"
    if problems:
        pytest.fail(f"{header}, deliberate difference #{d.design}:\n" + "\n".join(problems), pytrace=False)
