"""Runs programs against one system and returns their observations.

`run_one` is used in-process by the pytest side (Motet). ``python -m tests.conformance.execute
--system celery --out FILE`` is the Celery side: the Celery venv's python runs every selected
program, one after another, in one process, and appends one JSON line per program to FILE as
it goes (so the pytest side can compare a program as soon as Celery has answered it).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from tests.conformance.corpus import Program, load
from tests.conformance.facade import HANG, Ctx, System


def run_one(prog: Program, system: System) -> dict[str, Any]:
    """The observation of one program on one system, with its seconds and any harness error.

    The program runs in a daemon thread; one that has not returned within its deadline is
    observed as HANG (the thread is abandoned, as a user's client would be stuck).
    """
    ctx = Ctx(system, prog.name, prog.timeout)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            obs = prog.fn(ctx)
            box["obs"] = ctx.norm(obs)
        except BaseException as e:  # noqa: BLE001 - the program's own escape is an observation
            box["obs"] = {"program raised": ctx.exc(e)}
            box["traceback"] = traceback.format_exc()

    start = time.monotonic()
    thread = threading.Thread(target=target, name=f"conformance-{prog.name}", daemon=True)
    thread.start()
    thread.join(prog.deadline)
    out: dict[str, Any] = {"program": prog.name, "seconds": round(time.monotonic() - start, 3)}
    if thread.is_alive():
        out["obs"] = HANG
    else:
        out["obs"] = box["obs"]
        if "traceback" in box:
            out["traceback"] = box["traceback"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", choices=["celery", "motet"], required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--only", default="", help="comma-separated program names (default: all)")
    args = parser.parse_args(argv)
    if args.system == "celery":
        from tests.conformance.celery_app import system
    else:
        from tests.conformance.motet_app import system
    programs = load()
    names = [n for n in args.only.split(",") if n] or list(programs)
    sys_ = system()
    with args.out.open("a") as fh:
        for name in names:
            result = run_one(programs[name], sys_)
            fh.write(json.dumps(result, sort_keys=True) + "\n")
            fh.flush()
        fh.write(json.dumps({"done": True}) + "\n")
    # Abandoned (hung) program threads must not keep the process alive.
    sys.stdout.flush()
    import os

    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
