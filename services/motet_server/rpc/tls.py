"""TLS for the services' gRPC servers: certificates read from files, reloaded without a restart.

A server configured with a certificate and key serves TLS only; with a client CA too it
requires every client to present a certificate signed by that CA (mutual TLS). The files are
checked on each new connection (a `stat` per handshake) and read again when one changed, so a
rotated certificate (cert-manager, a renewed Secret) is served to the next client, with no
restart and no signal. Connections already open keep the certificate they were made with.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

import grpc

from motet.channels import read_file

__all__ = ["ServerTLS", "TLSConfigError"]

log = logging.getLogger(__name__)


class TLSConfigError(ValueError):
    """A TLS setting is incomplete or a file cannot be read; the message says which."""


def _read(path: str, what: str) -> bytes:
    return read_file(path, what, TLSConfigError)


@dataclass
class ServerTLS:
    """A server's certificate files.

    Attributes:
        cert: PEM certificate chain of the server.
        key: PEM private key of the server.
        client_ca: PEM CA bundle; when set, clients must present a certificate it signed.
    """

    cert: str
    key: str
    client_ca: str | None = None
    _stamp: tuple[float, ...] = field(default=(), init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_flags(cls, cert: str | None, key: str | None, client_ca: str | None) -> ServerTLS | None:
        """The TLS setting given by a service's flags, or None for plaintext.

        Raises:
            TLSConfigError: a certificate without its key (or the reverse), or a client CA
                without a server certificate.
        """
        if not cert and not key:
            if client_ca:
                raise TLSConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
            return None
        if not cert or not key:
            raise TLSConfigError("give both --tls-cert and --tls-key (one of them is missing)")
        tls = cls(cert=cert, key=key, client_ca=client_ca or None)
        tls._configuration()  # fail now, with the file's name, rather than at the first client
        return tls

    def _files(self) -> list[str]:
        return [p for p in (self.cert, self.key, self.client_ca) if p]

    def _mtimes(self) -> tuple[float, ...]:
        try:
            return tuple(os.stat(p).st_mtime_ns for p in self._files())
        except OSError:
            return self._stamp  # mid-rotation (a file briefly missing): keep serving the old one

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        pair = (_read(self.key, "TLS key"), _read(self.cert, "TLS certificate"))
        ca = _read(self.client_ca, "TLS client CA") if self.client_ca else None
        self._stamp = self._mtimes()
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC before each handshake: a new configuration when a file changed."""
        with self._lock:
            if self._mtimes() == self._stamp:
                return None
            try:
                config = self._configuration()
            except TLSConfigError as exc:
                log.warning("keeping the current certificate: %s", exc)
                return None
            log.info("TLS certificate files changed; serving the new certificate to new connections")
            return config

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that reload the files when they change."""
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(),
            self._fetch,  # type: ignore[arg-type]  # gRPC documents None as "unchanged"; the stubs omit it
            require_client_authentication=bool(self.client_ca),
        )
