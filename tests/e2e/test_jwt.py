"""JWT bearer tokens against a real results service started with --jwks / --jwt-issuer /
--jwt-audience: a valid RS256 or ES256 token's claims are its roles; an expired one, another
audience or issuer, a forged signature, an unknown key and `alg: none` are UNAUTHENTICATED; a
valid token without the role is PERMISSION_DENIED."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from motet.v1 import results_pb2, results_pb2_grpc
from motet_server.devcluster import ServiceProcess
from motet_server.ports import free_port
from motet_server.store.etcd_process import EtcdProcess
from tests.support.processes import process_env

ISSUER, AUDIENCE = "https://idp.example", "motet"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _n(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwt(claims: dict[str, Any], *, alg: str = "RS256", kid: str = "rsa-1", key: Any = None) -> str:
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if alg == "none":
        return signed + "."
    if alg == "ES256":
        r, s = decode_dss_signature((key or EC_KEY).sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = (key or RSA_KEY).sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{_b64(signature)}"


def _claims(**over: Any) -> dict[str, Any]:
    now = time.time()
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc-a", "exp": now + 300, "roles": ["client"], **over}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jwt")


@pytest.fixture(scope="module")
def results(folder: Path) -> Iterator[str]:
    rsa_numbers = RSA_KEY.public_key().public_numbers()
    ec_numbers = EC_KEY.public_key().public_numbers()
    jwks = {
        "keys": [
            {"kty": "RSA", "kid": "rsa-1", "n": _n(rsa_numbers.n), "e": _n(rsa_numbers.e)},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": _n(ec_numbers.x), "y": _n(ec_numbers.y)},
        ]
    }
    (folder / "jwks.json").write_text(json.dumps(jwks))
    env = process_env()
    with EtcdProcess(data_dir=folder / "etcd") as etcd:
        listen = f"127.0.0.1:{free_port()}"
        argv = [sys.executable, "-m", "motet", "results", "--listen", listen, "--etcd", etcd.endpoint,
                "--jwks", str(folder / "jwks.json"), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE]  # fmt: skip
        proc = ServiceProcess("results", argv, folder / "results.log", env, "motet results listening").start()
        try:
            yield listen
        finally:
            proc.stop()


def _call(endpoint: str, token: str, forget: bool = False) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(endpoint) as ch:
        stub = results_pb2_grpc.ResultsServiceStub(ch)
        try:
            if forget:
                stub.ForgetResult(results_pb2.ForgetResultRequest(ids=["x"]), timeout=10, metadata=metadata)
            else:
                stub.GetResult(results_pb2.GetResultRequest(task_id="x"), timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            return err.code()
    return grpc.StatusCode.OK


def test_valid_rs256_and_es256_tokens_are_accepted_by_their_claims(results: str) -> None:
    assert _call(results, _jwt(_claims())) == grpc.StatusCode.OK
    assert _call(results, _jwt(_claims(), alg="ES256", kid="ec-1")) == grpc.StatusCode.OK
    assert _call(results, _jwt(_claims(aud=["other", AUDIENCE]))) == grpc.StatusCode.OK
    # Forgetting is an admin call: a client token is known but not allowed.
    assert _call(results, _jwt(_claims()), forget=True) == grpc.StatusCode.PERMISSION_DENIED
    assert _call(results, _jwt(_claims(roles=["admin"], namespace="*")), forget=True) == grpc.StatusCode.OK


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _jwt(_claims(exp=time.time() - 120)), id="expired"),
        pytest.param(lambda: _jwt(_claims(aud="someone-else")), id="other-audience"),
        pytest.param(lambda: _jwt(_claims(iss="https://evil.example")), id="other-issuer"),
        pytest.param(lambda: _jwt(_claims(), key=OTHER_KEY), id="forged-signature"),
        pytest.param(lambda: _jwt(_claims(), kid="unknown"), id="unknown-key"),
        pytest.param(lambda: _jwt(_claims(), alg="none"), id="alg-none"),
        pytest.param(lambda: _jwt(_claims(nbf=time.time() + 600)), id="not-yet-valid"),
        pytest.param(lambda: _jwt(_claims(roles=["root"])), id="unknown-role"),
    ],
)
def test_an_invalid_jwt_is_unauthenticated(results: str, token: Any) -> None:
    assert _call(results, token()) == grpc.StatusCode.UNAUTHENTICATED


def test_a_rotated_jwks_file_is_read_again_without_a_restart(results: str, folder: Path) -> None:
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = _jwt(_claims(), kid="rsa-2", key=rotated)
    assert _call(results, token) == grpc.StatusCode.UNAUTHENTICATED  # rsa-2 is not published yet
    path = folder / "jwks.json"
    original = path.read_text()
    numbers = rotated.public_key().public_numbers()
    keys = json.loads(original)["keys"]
    try:
        path.write_text(
            json.dumps({"keys": [*keys, {"kty": "RSA", "kid": "rsa-2", "n": _n(numbers.n), "e": _n(numbers.e)}]})
        )
        deadline = time.monotonic() + 10  # the file is looked at once a second
        while _call(results, token) != grpc.StatusCode.OK:
            assert time.monotonic() < deadline, "a key added to the JWKS file was not accepted"
            time.sleep(0.2)
        assert _call(results, _jwt(_claims())) == grpc.StatusCode.OK  # the old key still works
    finally:
        path.write_text(original)
    deadline = time.monotonic() + 10
    while _call(results, token) != grpc.StatusCode.UNAUTHENTICATED:  # its key withdrawn, the token is refused
        assert time.monotonic() < deadline, "a key removed from the JWKS file was still accepted"
        time.sleep(0.2)
