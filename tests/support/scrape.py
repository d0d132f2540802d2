"""Reading a service's Prometheus endpoint in tests: every sample by name and labels."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "scrape", "total"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(endpoints: Iterable[str] | str) -> Samples:
    """Every motet_* and grpc_* sample, by name and labels (without the constant ``namespace``
    label of the scheduler's and results' series), summed over the endpoints."""
    out: Samples = {}
    for endpoint in [endpoints] if isinstance(endpoints, str) else endpoints:
        with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith(("motet_", "grpc_")):
                    labels = {k: v for k, v in s.labels.items() if k != "namespace"}
                    key = (s.name, frozenset(labels.items()))
                    out[key] = out.get(key, 0.0) + s.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the ``name`` samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and want <= got)
