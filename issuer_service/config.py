"""Service configuration, from the environment (twelve-factor style), with embedded defaults."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from didlib.files import read_limited, write_private

__all__ = ["Settings", "admin_listener"]


@dataclass(frozen=True)
class Settings:
    """``DATABASE_URL`` (default: SQLite in the data folder), ``DIDLIB_ISSUER_DATA`` (keys, database),
    ``DIDLIB_PUBLIC_URL`` (what wallets reach), ``DIDLIB_ADMIN_TOKEN`` (default: the one in
    ``<data>/admin-token``, made once), ``DIDLIB_DEMO`` (show transaction codes, print the admin token),
    ``DIDLIB_SEED_DRIVERS`` (register size on first start), ``DIDLIB_KEYS`` (``file`` or ``pkcs11``) with
    ``DIDLIB_PKCS11_MODULE``, ``DIDLIB_PKCS11_TOKEN``, ``DIDLIB_PKCS11_PIN``, ``DIDLIB_RATE_PER_MINUTE``,
    ``DIDLIB_DB_TIMEOUT`` (seconds a request waits for a lock or a connection before a 503),
    ``DIDLIB_STATUS_LIST_SIZE`` (entries per status list; a new list opens when one is half used),
    ``DIDLIB_ADMIN_PORT`` (serve the admin API only there, on 127.0.0.1; see :func:`admin_listener`).

    Everything a worker needs comes from the environment and the data folder, so every worker process of
    ``didlib-issuer --workers N`` builds the same settings (see ``__main__``)."""

    data_dir: Path
    database_url: str
    public_url: str
    admin_token: str
    demo: bool = False
    seed_drivers: int = 200
    keys: str = "file"
    pkcs11_module: str | None = None
    pkcs11_token: str = "didlib"
    pkcs11_pin: str | None = None
    rate_per_minute: int = 30
    offer_lifetime_seconds: int = 600
    token_lifetime_seconds: int = 300
    nonce_lifetime_seconds: int = 300
    status_list_size: int = 100_000
    batch_size: int = 10
    db_timeout_seconds: float = 10
    admin_port: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, host: str = "127.0.0.1", port: int = 8000) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("DIDLIB_ISSUER_DATA", "issuer-data")).resolve()
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", f"sqlite:///{data_dir / 'issuer.db'}"),
            public_url=env.get("DIDLIB_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            admin_token=env.get("DIDLIB_ADMIN_TOKEN") or _stored_secret(data_dir / "admin-token"),
            demo=env.get("DIDLIB_DEMO", "0") not in ("0", "false", "no", ""),
            seed_drivers=int(env.get("DIDLIB_SEED_DRIVERS", "200")),
            keys=env.get("DIDLIB_KEYS", "file"),
            pkcs11_module=env.get("DIDLIB_PKCS11_MODULE"),
            pkcs11_token=env.get("DIDLIB_PKCS11_TOKEN", "didlib"),
            pkcs11_pin=env.get("DIDLIB_PKCS11_PIN"),
            rate_per_minute=int(env.get("DIDLIB_RATE_PER_MINUTE", "30")),
            db_timeout_seconds=float(env.get("DIDLIB_DB_TIMEOUT", "10")),
            admin_port=int(env["DIDLIB_ADMIN_PORT"]) if env.get("DIDLIB_ADMIN_PORT") else None,
            status_list_size=max(16, int(env.get("DIDLIB_STATUS_LIST_SIZE", "100000"))),
        )

    def secret(self) -> bytes:
        """The service's own key (``secret.key`` in the data folder, made once, mode 600): it keys the
        transaction code hashes, so it must stay out of the database."""
        return _stored_secret(self.data_dir / "secret.key").encode()


def _stored_secret(path: Path) -> str:
    """A random secret kept in ``path`` (mode 600), made on first use; every process reads the same one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, secrets.token_urlsafe(32).encode())
    return read_limited(path, 256, "secret").decode().strip()


def admin_listener(host: str, public_url: str, port: int, admin_port: int | None) -> int | None:
    """The loopback port the admin API is served on, or None when it may share the public listener.

    It may share only a purely local service (bound to loopback and announced at a loopback URL, as the demo
    and the tests run it). Anything else reachable from outside, directly or through a reverse proxy that
    forwards a public URL to a loopback port, gets the admin API on a listener of its own on 127.0.0.1
    (``--admin-port``, by default the public port + 1), so a network client never reaches it."""
    if admin_port:
        return admin_port
    if _is_loopback(host) and _is_loopback(urlsplit(public_url).hostname or ""):
        return None
    return port + 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
