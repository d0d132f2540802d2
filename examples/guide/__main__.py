"""`python -m examples.guide`: run every canvas-guide example through a real local cluster."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from motet_server.devcluster import DevCluster


def main() -> int:
    """Starts a private cluster, runs the examples, prints each result beside the guide's."""
    with tempfile.TemporaryDirectory(prefix="motet-guide-") as record_dir:
        return _run(record_dir)


def _run(record_dir: str) -> int:
    os.environ["MOTET_TEST_RECORD_DIR"] = record_dir
    print("starting a local Motet cluster (etcd, scheduler, results, worker) ...", flush=True)
    with DevCluster(app="examples.guide.tasks", ports="free", env={"MOTET_TEST_RECORD_DIR": record_dir}) as cluster:
        os.environ["MOTET_SCHEDULER"] = cluster.scheduler
        os.environ["MOTET_RESULTS"] = cluster.results
        from examples.guide.examples import EXAMPLES

        failures = 0
        for example in EXAMPLES:
            started = time.perf_counter()
            try:
                got = example.run()
            except Exception as exc:  # noqa: BLE001 - shown and counted
                got = f"{type(exc).__name__}: {exc}"
            ok = got == example.expected
            failures += not ok
            mark = "ok  " if ok else "FAIL"
            ms = (time.perf_counter() - started) * 1000
            print(
                f"{mark} {example.title}\n     motet: {got!r}\n     guide: {example.expected!r}   ({ms:.0f} ms)",
                flush=True,
            )
        print(f"\n{len(EXAMPLES) - failures} of {len(EXAMPLES)} guide examples give the guide's values", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
