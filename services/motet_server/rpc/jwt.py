"""JSON Web Tokens as bearer tokens: RS256 / ES256 signatures checked against a JWKS file.

A service started with ``--jwks FILE --jwt-issuer ISS --jwt-audience AUD`` accepts a JWT in
``authorization: Bearer`` whose signature a key of the file verifies (chosen by ``kid``), whose
``iss`` and ``aud`` are the configured ones and whose ``exp`` / ``nbf`` hold (30 s leeway). Its
claims say what it may do, as a token file's entry does (`rpc.auth.Principal`): ``roles`` (a
list of client / worker / admin), ``namespace`` (default "default"; "*" for any), ``tasks`` and
``queues`` (patterns, for workers) and ``sub`` (its name in errors). Only RS256 and ES256 are
accepted; ``alg: none`` and HMAC algorithms are refused.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from motet_server.rpc.auth import ROLES, Principal, TokenFileError
from motet_server.rpc.reload import Reloading

__all__ = ["JWTVerifier", "looks_like_jwt", "watch_jwks"]

LEEWAY = 30.0
"""Seconds of clock skew allowed on ``exp`` and ``nbf``."""


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has a JWT's three dot-separated parts."""
    return token.count(".") == 2


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64(part), "big")


def _key(entry: dict[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if entry.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(_int(entry["e"]), _int(entry["n"])).public_key()
    if entry.get("kty") == "EC" and entry.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(_int(entry["x"]), _int(entry["y"]), ec.SECP256R1()).public_key()
    raise ValueError(f"unsupported key (kty {entry.get('kty')!r}, crv {entry.get('crv')!r}): use RSA or EC P-256")


@dataclass(frozen=True)
class JWTVerifier:
    """Checks JWTs against the keys of a JWKS file, an issuer and an audience."""

    issuer: str
    audience: str
    keys: dict[str, rsa.RSAPublicKey | ec.EllipticCurvePublicKey]

    @classmethod
    def from_flags(cls, jwks: str | None, issuer: str | None, audience: str | None) -> JWTVerifier | None:
        """The verifier the --jwks / --jwt-issuer / --jwt-audience flags ask for, or None.

        Raises:
            TokenFileError: a flag without the others, or a JWKS file that cannot be used.
        """
        if not (jwks or issuer or audience):
            return None
        if not (jwks and issuer and audience):
            raise TokenFileError("JWT checks need all of --jwks, --jwt-issuer and --jwt-audience")
        try:
            entries = json.loads(Path(jwks).read_text())["keys"]
            keys = {str(e.get("kid", "")): _key(e) for e in entries}
        except OSError as exc:
            raise TokenFileError(f"cannot read the JWKS file {jwks}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenFileError(
                f'the JWKS file {jwks} is not {{"keys": [...]}} of RSA / EC P-256 keys: {exc}'
            ) from None
        if not keys:
            raise TokenFileError(f"the JWKS file {jwks} has no keys")
        return cls(issuer=issuer, audience=audience, keys=keys)

    def verify(self, token: str) -> Principal | str:
        """The principal a valid token names, or why it is not valid (for UNAUTHENTICATED)."""
        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(_b64(head_b64))
            claims = json.loads(_b64(body_b64))
            signature = _b64(sig_b64)
        except ValueError:
            return "the token is not a well-formed JWT"
        alg = header.get("alg")
        key = self.keys.get(str(header.get("kid", ""))) or (
            next(iter(self.keys.values())) if len(self.keys) == 1 and "kid" not in header else None
        )
        if key is None:
            return "the token's key (kid) is not in the JWKS file"
        signed = f"{head_b64}.{body_b64}".encode()
        try:
            if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
            else:
                return f"the token's algorithm {alg!r} is not accepted (RS256 or ES256 with a matching key)"
        except InvalidSignature:
            return "the token's signature does not verify"
        return self._principal(claims)

    def _principal(self, claims: Any) -> Principal | str:
        if not isinstance(claims, dict):
            return "the token's claims are not an object"
        now = time.time()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self.issuer:
            return f"the token's issuer {claims.get('iss')!r} is not {self.issuer!r}"
        if self.audience not in audiences:
            return f"the token's audience {audience!r} does not include {self.audience!r}"
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + LEEWAY < now:
            return "the token has expired (or carries no exp)"
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] - LEEWAY > now:
            return "the token is not valid yet (nbf)"
        roles = frozenset(claims.get("roles") or ())
        if not roles or not roles <= set(ROLES):
            return f"the token's roles {sorted(roles)} are not some of {', '.join(ROLES)}"
        return Principal(
            name=str(claims.get("sub") or "jwt"),
            roles=roles,
            namespace=str(claims.get("namespace") or "default"),
            tasks=tuple(claims.get("tasks") or ("*",)),
            queues=tuple(claims.get("queues") or ("*",)),
        )


def watch_jwks(jwks: str | None, issuer: str | None, audience: str | None) -> Reloading[JWTVerifier] | None:
    """The verifier the flags ask for (`JWTVerifier.from_flags`), its JWKS file read again when
    it changes (a key rotation needs no restart), or None when no JWT flag is given.

    Raises:
        TokenFileError: as `JWTVerifier.from_flags`, at start.
    """

    def load() -> JWTVerifier:
        verifier = JWTVerifier.from_flags(jwks, issuer, audience)
        if verifier is None:  # cannot happen once a flag was given; keeps the type honest
            raise TokenFileError("JWT checks need all of --jwks, --jwt-issuer and --jwt-audience")
        return verifier

    if not (jwks or issuer or audience):
        return None
    return Reloading(jwks or "", load, "JWKS file")
