"""The SDK's one channel factory: a gRPC channel per endpoint and TLS setting, shared by every
Client in the process.

Channels are thread-safe and multiplex calls, so one per endpoint is enough. TLS is chosen
here too: `credentials` turns CA / certificate / key files into channel credentials (the
services' own outgoing channels use it as well), and a channel opened with them speaks TLS only.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from motet.exceptions import ImproperlyConfigured
from motet.settings import MAX_MESSAGE_BYTES

__all__ = ["channel", "credentials", "read_file"]

_channels: dict[tuple[str, tuple[str | None, ...]], grpc.Channel] = {}
_lock = threading.Lock()


def read_file(path: str, what: str, error: type[Exception] = ImproperlyConfigured) -> bytes:
    """A certificate, key or secret file's bytes; a file that cannot be read raises ``error``
    with one line naming it ("cannot read the TLS CA /etc/ca.pem: No such file or directory")."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def credentials(ca: str | None, cert: str | None = None, key: str | None = None) -> grpc.ChannelCredentials | None:
    """Channel credentials from PEM files, or None for plaintext (no CA given).

    Args:
        ca: The CA bundle that signed the server's certificate.
        cert: A client certificate (for servers that require mutual TLS), with ``key``.
        key: The client certificate's private key.

    Raises:
        ImproperlyConfigured: a file cannot be read, or a certificate comes without its key
            (or the reverse), or a client certificate without a CA.
    """
    if not ca:
        if cert or key:
            raise ImproperlyConfigured("a TLS client certificate needs MOTET_TLS_CA (the CA of the services)")
        return None
    if bool(cert) != bool(key):
        raise ImproperlyConfigured("give both MOTET_TLS_CERT and MOTET_TLS_KEY (one of them is missing)")
    return grpc.ssl_channel_credentials(
        root_certificates=read_file(ca, "TLS CA"),
        private_key=read_file(key, "TLS key") if key else None,
        certificate_chain=read_file(cert, "TLS certificate") if cert else None,
    )


def channel(endpoint: str, tls: tuple[str | None, str | None, str | None] = (None, None, None)) -> grpc.Channel:
    """The process's channel to `endpoint` (host:port), created on first use.

    Args:
        endpoint: host:port.
        tls: (CA, client certificate, client key) file paths; no CA means plaintext.
    """
    with _lock:
        existing = _channels.get((endpoint, tls))
        if existing is None:
            options = [
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ]
            creds = credentials(*tls)
            existing = (
                grpc.insecure_channel(endpoint, options=options)
                if creds is None
                else grpc.secure_channel(endpoint, creds, options=options)
            )
            _channels[(endpoint, tls)] = existing
        return existing
