"""Client settings: where the services are, and the limits every side of the wire shares.

One place for what the SDK used to repeat: the default endpoints, the default queue, the
message and payload limits and the nesting depth. The services read the same limits
(`motet_server.config` takes them from here), so a value the SDK accepts is one the
scheduler accepts. TLS and tokens will be added to `ClientSettings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CELERY_DEFAULTS",
    "Conf",
    "LOOPBACK",
    "RESULTS_PORT",
    "SCHEDULER_PORT",
    "DEFAULT_QUEUE",
    "DEFAULT_RESULTS",
    "DEFAULT_RESULT_EXPIRES",
    "DEFAULT_SCHEDULER",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "ClientSettings",
]

LOOPBACK = "127.0.0.1"
"""The host of the default endpoints (`motet dev` listens on loopback only)."""

SCHEDULER_PORT = 7410
"""The scheduler's default gRPC port."""

RESULTS_PORT = 7411
"""The results service's default gRPC port."""

DEFAULT_SCHEDULER = f"{LOOPBACK}:{SCHEDULER_PORT}"
"""The scheduler endpoint when neither an argument nor MOTET_SCHEDULER gives one."""

DEFAULT_RESULTS = f"{LOOPBACK}:{RESULTS_PORT}"
"""The results endpoint when neither an argument nor MOTET_RESULTS gives one."""

DEFAULT_QUEUE = "celery"
"""The queue a task goes to when nothing names one (Celery's `task_default_queue`)."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest gRPC message sent or received: a wide canvas travels in one SubmitCanvas call."""

MAX_PAYLOAD_BYTES = 1 << 20
"""The largest encoded value (arguments, a result) accepted: 1 MiB; larger is refused, never truncated."""

DEFAULT_RESULT_EXPIRES = 86_400
"""Seconds a result is kept unless configured otherwise (Celery's default `result_expires`: one day)."""

MAX_DEPTH = 32
"""The deepest canvas nesting accepted (protobuf decoders stop at 100 message levels and one
canvas level costs two or three of them)."""


@dataclass(frozen=True)
class ClientSettings:
    """Where an App's requests go.

    Attributes:
        scheduler: host:port of a scheduler.
        results: host:port of a results service.
        namespace: The namespace sent as `motet-namespace` request metadata, or None.
    """

    scheduler: str = DEFAULT_SCHEDULER
    results: str = DEFAULT_RESULTS
    namespace: str | None = None
    tls_ca: str | None = None
    """PEM CA bundle that signed the services' certificates: set it (MOTET_TLS_CA) to speak TLS."""
    tls_cert: str | None = None
    """PEM client certificate, for services that require mutual TLS (MOTET_TLS_CERT)."""
    tls_key: str | None = None
    """PEM key of `tls_cert` (MOTET_TLS_KEY)."""
    token: str | None = None
    """Bearer token sent with every call, for services started with --tokens (MOTET_TOKEN)."""

    @classmethod
    def resolve(
        cls, *, scheduler: str | None = None, results: str | None = None, namespace: str | None = None
    ) -> ClientSettings:
        """Settings from the arguments given, else MOTET_SCHEDULER / MOTET_RESULTS / MOTET_NAMESPACE
        and MOTET_TLS_CA / MOTET_TLS_CERT / MOTET_TLS_KEY / MOTET_TOKEN, else the defaults (plaintext). The
        environment is read now, at each call."""
        env = os.environ
        return cls(
            scheduler=scheduler or env.get("MOTET_SCHEDULER") or DEFAULT_SCHEDULER,
            results=results or env.get("MOTET_RESULTS") or DEFAULT_RESULTS,
            namespace=namespace or env.get("MOTET_NAMESPACE") or None,
            tls_ca=env.get("MOTET_TLS_CA") or None,
            tls_cert=env.get("MOTET_TLS_CERT") or None,
            tls_key=env.get("MOTET_TLS_KEY") or None,
            token=env.get("MOTET_TOKEN") or None,
        )


CELERY_DEFAULTS: dict[str, Any] = {
    "task_always_eager": False,
    "task_eager_propagates": False,
    "task_allow_error_cb_on_chord_header": False,
    "task_inherit_parent_priority": False,
    "task_default_queue": DEFAULT_QUEUE,
    "result_expires": DEFAULT_RESULT_EXPIRES,
    "result_chord_ordered": True,
    "result_chord_join_timeout": 3.0,
    "result_chord_retry_interval": 1.0,
    "task_protocol": 2,
    "result_extended": False,
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": None,
}
"""Celery's settings that change canvas behaviour, with Celery's defaults (what `app.conf` holds
before anything is set)."""


class Conf(dict[str, Any]):
    """An App's configuration with Celery's setting names (Celery's `app.conf`).

    Read and set as attributes or keys (`app.conf.task_always_eager = True`,
    `app.conf.update(result_expires=3600)`). Settings Motet acts on:

    - ``task_always_eager``: `apply_async` / `delay` run the canvas in the calling process and
      return an `EagerResult`, as `.apply()` does; ``task_eager_propagates`` makes such a run
      raise the task's exception at once.
    - ``task_allow_error_cb_on_chord_header``: `chord.link_error(eb)` also attaches an immutable
      copy of `eb` to every header member (read when `link_error` is called, as in Celery).
    - ``result_expires``: seconds results are kept (Celery's default, one day). Results are
      written by the scheduler: a cluster started by ``motet dev --app MODULE`` takes it from the
      app; a deployed scheduler takes ``MOTET_RESULT_EXPIRES``.

    - ``result_extended``: results report their task name (`AsyncResult.name`) only when on.
    - ``task_serializer`` / ``result_serializer``: ``json`` (default) or ``pickle`` for the
      arguments a client sends / the results a worker returns (a task's ``serializer=`` option
      wins over the first); ``accept_content`` (default ``["json"]``): what a worker unpickles,
      and ``result_accept_content`` (default: ``accept_content``) what a client does. Pickle is
      for Python-only deployments that opt in on every side, the scheduler too
      (``--accept-content json,pickle``; ``motet dev --app`` takes it from ``accept_content``).

    Other names are kept and ignored (Celery's broker and backend settings mean nothing here);
    ``result_chord_ordered`` is always true in Motet, whose chord results are in header order.
    """

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        super().__init__(CELERY_DEFAULTS)
        self.update(values or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"app.conf has no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def config_from_object(self, obj: Any) -> None:
        """Celery's `config_from_object`: takes the lower-case public attributes of `obj` (or
        the keys of a dict)."""
        items = obj.items() if isinstance(obj, dict) else ((k, getattr(obj, k)) for k in dir(obj))
        self.update({k: v for k, v in items if not k.startswith("_") and k.islower()})
