"""`make profile-s2` (``python -m bench.profile [-n 1000] [--spy]``): where a sequential
``add.delay(1, 1).get()`` spends its time, on a fresh `motet dev` cluster.

Prints the median round trip, split into the submit call and the wait, and the CPU time
each process (client, scheduler, worker, results, etcd) spends per round trip, from
/proc/<pid>/stat: on 2 shared cores, CPU is what a sequential path waits for. With ``--spy``
it also samples every service with py-spy (the ``bench`` extra) and prints each one's
busiest functions (own time, event-loop idle left out).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frame(raw: str) -> str:
    match = re.match(r"(.*) \((.*?):\d+\)", raw)
    if not match:
        return raw
    name, path = match.groups()
    return f"{name} ({path.split('site-packages/')[-1].split('/motet_server/')[-1]})"


def _busiest(path: Path, top: int) -> list[str]:
    """The functions with the most own samples in a py-spy raw file, idle waits left out."""
    own: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")]
        idle = frames[-1].startswith(("Thread.run ", "_worker (concurrent")) or "select (selectors.py)" in frames[-1]
        if idle or "serve_forever" in stack:
            continue  # a thread blocked in C (a queue, a lock, select), or the metrics thread
        own[frames[-1]] += int(count)
    total = sum(own.values()) or 1
    return [f"{n * 100 / total:5.1f}% {name}" for name, n in own.most_common(top)]


def measure(n: int, spy: bool) -> dict[str, Any]:
    """Runs `n` round trips on a fresh cluster; returns the medians (ms), the CPU ms per round
    trip of each process, and (with `spy`) each service's busiest functions."""
    from motet import state
    from motet_server.devcluster import DevCluster

    with DevCluster(app="examples.guide.tasks", ports="free", workers=1, concurrency=8) as cluster:
        os.environ["MOTET_SCHEDULER"] = cluster.scheduler
        os.environ["MOTET_RESULTS"] = cluster.results
        from examples.guide.tasks import add, app

        state.set_current_app(app)
        for _ in range(100):  # warm the connections and the services
            assert add.delay(1, 1).get(timeout=30) == 2
        assert cluster.scheduler_process and cluster.results_process
        pids = {
            "client": os.getpid(),
            "scheduler": cluster.scheduler_process.pid,
            "worker": cluster.workers[0].pid,
            "results": cluster.results_process.pid,
            "etcd": cluster.etcd_process.pid,
        }
        spies: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        out = Path(tempfile.mkdtemp(prefix="motet-profile-"))
        if spy:
            for name in ("scheduler", "worker", "results"):
                raw = out / f"{name}.txt"
                cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pids[name]), "-f", "raw"]
                cmd += ["-o", str(raw), "-r", "200", "-d", "15"]
                spies[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), raw)
            time.sleep(1)
        before = {name: _cpu_seconds(pid) for name, pid in pids.items() if pid}
        submit, wait, total = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            res = add.delay(1, 1)
            t1 = time.perf_counter()
            assert res.get(timeout=30) == 2
            t2 = time.perf_counter()
            submit.append(t1 - t0)
            wait.append(t2 - t1)
            total.append(t2 - t0)
        after = {name: _cpu_seconds(pid) for name, pid in pids.items() if pid}
        busiest: dict[str, list[str]] = {}
        for name, (proc, raw) in spies.items():
            proc.wait(timeout=60)
            if raw.exists():
                busiest[name] = _busiest(raw, 8)
    return {
        "n": n,
        "p50_ms": statistics.median(total) * 1e3,
        "submit_ms": statistics.median(submit) * 1e3,
        "get_ms": statistics.median(wait) * 1e3,
        "cpu_ms": {name: (after[name] - before[name]) * 1e3 / n for name in after},
        "busiest": busiest,
    }


def render(profile: dict[str, Any]) -> list[str]:
    """The profile as lines of text (also a Markdown section body)."""
    cpu = profile["cpu_ms"]
    lines = [
        f"{profile['n']} round trips: p50 {profile['p50_ms']:.2f} ms = submit {profile['submit_ms']:.2f} ms "
        f"+ get {profile['get_ms']:.2f} ms.",
        "",
        "CPU ms per round trip: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
        + f"; {sum(cpu.values()):.2f} ms of CPU in all per {profile['p50_ms']:.2f} ms round trip, on 2 cores.",
    ]
    for name, top in profile["busiest"].items():
        lines += ["", f"{name}: busiest functions (own time, idle waits left out)", "", "```", *top, "```"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("-n", type=int, default=1000, help="round trips measured")
    parser.add_argument("--spy", action="store_true", help="also sample the services with py-spy")
    args = parser.parse_args(argv)
    print("\n".join(render(measure(args.n, args.spy))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
