"""Throw-away certificates for TLS tests, made with the ``openssl`` and ``keytool`` commands.

`make_pki` writes a CA, a server certificate for ``127.0.0.1``/``localhost`` and a
client certificate, as PEM files for Python (``ssl``, aiokafka, kafka-python,
aiohttp). `make_java_stores` adds what a Kafka broker (Java) reads: a PKCS#12
keystore whose key pair ``keytool`` generates and the CA signs, and a truststore
holding the CA. Everything lives in the directory given; nothing is installed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"
_SAN = "subjectAltName=IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA and the certificates it signed."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class JavaStores:
    """A broker's PKCS#12 keystore and truststore, both protected by `password`."""

    keystore: Path
    truststore: Path
    password: str


def _run(*cmd: str, cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")


def _sign(pki_dir: Path, csr: Path, out: Path, ca_cert: Path, ca_key: Path, usage: str) -> None:
    ext = pki_dir / f"{out.stem}.ext"
    ext.write_text(f"{_SAN}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
    _run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(out), "-days", _DAYS, "-sha256", "-extfile", str(ext),
        cwd=pki_dir,
    )  # fmt: skip


def _key_and_cert(
    pki_dir: Path, name: str, cn: str, ca_cert: Path, ca_key: Path, usage: str
) -> None:
    _run(
        "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", f"/CN={cn}",
        cwd=pki_dir,
    )  # fmt: skip
    _sign(pki_dir, pki_dir / f"{name}.csr", pki_dir / f"{name}.pem", ca_cert, ca_key, usage)


def make_pki(pki_dir: Path) -> Pki:
    """Write a CA, a server and a client certificate (RSA 2048, valid 2 days) into `pki_dir`."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", _DAYS, "-sha256", "-subj", "/CN=vigil-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=pki_dir,
    )  # fmt: skip
    ca_cert, ca_key = pki_dir / "ca.pem", pki_dir / "ca.key"
    _key_and_cert(pki_dir, "server", "localhost", ca_cert, ca_key, "serverAuth")
    _key_and_cert(pki_dir, "client", "vigil-client", ca_cert, ca_key, "clientAuth")
    return Pki(
        pki_dir,
        ca_cert,
        ca_key,
        pki_dir / "server.pem",
        pki_dir / "server.key",
        pki_dir / "client.pem",
        pki_dir / "client.key",
    )


def make_java_stores(pki: Pki, password: str = "broker-store-pw") -> JavaStores:  # noqa: S107
    """Make a broker keystore (key pair by keytool, signed by the test CA) and a truststore."""
    d = pki.dir
    keystore, truststore = d / "broker.keystore.p12", d / "broker.truststore.p12"
    for path in (keystore, truststore):
        path.unlink(missing_ok=True)
    store = ("-storetype", "PKCS12", "-storepass", password)
    _run(
        "keytool", "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", _DAYS, "-dname", "CN=localhost", "-keystore", str(keystore), *store,
        cwd=d,
    )  # fmt: skip
    _run(
        "keytool", "-certreq", "-alias", "broker", "-keystore", str(keystore), *store,
        "-file", "broker.csr",
        cwd=d,
    )  # fmt: skip
    # The broker's certificate also serves as a client one (its connections to itself).
    _sign(d, d / "broker.csr", d / "broker.pem", pki.ca_cert, pki.ca_key, "serverAuth,clientAuth")
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", str(pki.ca_cert),
        "-keystore", str(keystore), *store,
        cwd=d,
    )  # fmt: skip
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "broker", "-file", "broker.pem",
        "-keystore", str(keystore), *store,
        cwd=d,
    )  # fmt: skip
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", str(pki.ca_cert),
        "-keystore", str(truststore), *store,
        cwd=d,
    )  # fmt: skip
    return JavaStores(keystore, truststore, password)
