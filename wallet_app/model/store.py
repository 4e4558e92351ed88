"""The wallet's encrypted store: one file, a random data key wrapped by a key derived from the PIN and a
secret the file does not hold. The design and its limits are in specs/wallet.md.

Headless Linux has no usable keyring, so: scrypt(PIN, salt), then HMAC-SHA256 under the key provider's
secret -> key-encryption key -> AES-256-GCM wrap of a random 256-bit data key -> AES-256-GCM of the records
(JSON). The provider's secret (a file of its own here, a non-exportable Android Keystore key on a phone)
makes a copy of the wallet file useless for guessing PINs offline. Wrong PINs are counted in the file under
a MAC by the same provider, so the count cannot be edited back to 0, with a growing delay before the next
try that is measured on the clock since boot: setting the wall clock either way neither extends nor lifts it.
Writes are atomic and private (mode 600); the previous file is kept as ``.bak`` only if it decrypts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from didlib.errors import DidlibError, UnsupportedError
from didlib.files import read_limited, write_private

__all__ = [
    "AndroidKeystoreWrapKeys",
    "CorruptStore",
    "LockedOut",
    "Moment",
    "SoftwareWrapKeys",
    "WalletStore",
    "WrapKeyProvider",
    "WrongPin",
    "check_pin",
    "lockout_delay",
]

VERSION = 2
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_N_RANGE = (2**10, 2**20)  # what a file may ask for: a forged 2**40 must not hang or exhaust memory
MAX_FILE = 64 << 20
MAX_FAILURES = 1_000_000
FREE_TRIES = 3  # wrong PINs before the first wait
PIN_LENGTH = (6, 64)  # digits
_WRAPPED_LEN = 12 + 32 + 16  # nonce, data key, tag


class WrongPin(DidlibError):
    code = "wrong_pin"

    def __init__(self, failures: int) -> None:
        left = tries_left(failures)
        if left:
            super().__init__(f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left")
        else:
            super().__init__(f"wrong PIN: wait {lockout_delay(failures)} seconds before the next try")
        self.tries_left = left


class LockedOut(DidlibError):
    code = "locked_out"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"too many wrong PINs: try again in {int(seconds) + 1} seconds")
        self.seconds = seconds


class CorruptStore(DidlibError):
    code = "corrupt_store"


def lockout_delay(failures: int) -> int:
    """Seconds to wait after ``failures`` wrong PINs in a row: three free tries, then 30 s doubling to 1 h."""
    return 0 if failures < FREE_TRIES else min(30 * 2 ** min(failures - FREE_TRIES, 20), 3600)


def tries_left(failures: int) -> int:
    """Wrong PINs still possible after ``failures`` before the wallet makes the holder wait."""
    return max(FREE_TRIES - failures, 0)


# ------------------------------------------------------------------------------------ key providers
class WrapKeyProvider(Protocol):
    """Holds a secret the wallet file does not contain and computes HMAC-SHA256 with it (never exporting it).

    Every PIN guess goes through :meth:`mac`, so guessing needs the provider: with a hardware-backed one
    (Android Keystore, StrongBox where present) the secret never leaves the device's secure hardware.
    """

    hardware_backed: bool

    def create(self) -> None:
        """Make a new secret (a new wallet); fails if one exists."""

    def mac(self, label: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 of ``label || data``; :class:`CorruptStore` when the secret is missing."""

    def forget(self) -> None:
        """Destroy the secret (delete everything): files encrypted under it can never be opened again."""


class SoftwareWrapKeys:
    """The desktop and test provider: a 32-byte secret in its own file (mode 600) beside the wallet.

    Weaker than hardware, and said so: whoever can read both files (the same user, a full-disk copy) can
    still guess PINs offline at scrypt's cost. A copy of ``wallet.json`` or of a backup alone cannot.
    """

    hardware_backed = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise DidlibError(f"a wallet key already exists at {self.path}", code="wallet_exists") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())

    def mac(self, label: bytes, data: bytes) -> bytes:
        try:
            secret = read_limited(self.path, 32, "wallet key", CorruptStore)
        except CorruptStore:
            raise CorruptStore(f"this wallet's device key {self.path} is missing or unreadable: the wallet "
                               "cannot be opened on this device") from None
        if len(secret) != 32:
            raise CorruptStore(f"this wallet's device key {self.path} is damaged")
        return hmac.new(secret, label + data, hashlib.sha256).digest()

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


class AndroidKeystoreWrapKeys:
    """Where the phone build plugs in; not available in this build, and never imitated in software.

    To implement (pyjnius, python-for-android): ``create`` generates an HMAC-SHA256 key under ``alias`` with
    ``KeyGenerator.getInstance("HmacSHA256", "AndroidKeyStore")`` and a ``KeyGenParameterSpec`` for
    ``PURPOSE_SIGN``, ``setIsStrongBoxBacked(true)`` where the device has StrongBox (falling back to the
    TEE); ``mac`` is ``Mac.getInstance("HmacSHA256")`` initialised with that key (the key never leaves the
    Keystore); ``forget`` is ``KeyStore.deleteEntry(alias)``. Until then the wallet app uses
    :class:`SoftwareWrapKeys` on every platform, and ``hardware_backed`` says so.
    """

    hardware_backed = True

    def __init__(self, alias: str = "didlib-wallet") -> None:
        raise UnsupportedError("Android Keystore is not available in this build: the software key provider is "
                               "used (see specs/wallet.md)")


def default_provider(wallet: Path) -> WrapKeyProvider:
    """The provider for a wallet file: its software secret ``wallet.key`` beside it."""
    return SoftwareWrapKeys(wallet.with_suffix(".key"))


# --------------------------------------------------------------------------------------------- time
@dataclass(frozen=True)
class Moment:
    """When a PIN was tried: the wall clock, and the time since boot (which no one sets) with the boot's id."""

    wall: float
    boot: str | None  # Linux's boot_id; None where unknown (then only the wall clock is there)
    uptime: float  # seconds since boot, suspend included


def now() -> Moment:
    boot = None
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return Moment(time.time(), boot, time.clock_gettime(clock))


Clock = Callable[[], Moment]


# -------------------------------------------------------------------------------------- the header
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise CorruptStore(f"the wallet file is damaged ({what})")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CorruptStore(f"the wallet file is damaged ({what})") from None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CorruptStore(f"the wallet file is damaged ({what})")
    return float(value)


@dataclass
class _Tries:
    """Wrong PINs in a row, and when the last one was (wall clock, and boot id with time since boot)."""

    failures: int = 0
    wall: float = 0.0
    boot: str | None = None
    uptime: float = 0.0

    @classmethod
    def parse(cls, value: Any) -> _Tries:
        if not isinstance(value, dict):
            raise CorruptStore("the wallet file is damaged (tries)")
        failures, boot = value.get("failures"), value.get("boot")
        if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures <= MAX_FAILURES:
            raise CorruptStore("the wallet file is damaged (failures)")
        if boot is not None and (not isinstance(boot, str) or len(boot) > 64):
            raise CorruptStore("the wallet file is damaged (boot)")
        return cls(failures, _number(value.get("wall"), "wall"), boot, _number(value.get("uptime"), "uptime"))

    def as_json(self) -> dict[str, Any]:
        return {"failures": self.failures, "wall": self.wall, "boot": self.boot, "uptime": self.uptime}

    def wait(self, moment: Moment) -> tuple[float, bool]:
        """Seconds still to wait, never more than :func:`lockout_delay`, and whether the record must be moved
        to ``moment`` to stay bounded: after a restart (time since boot starts again: so does the wait) or
        with no boot id and a wall clock that went back."""
        delay = lockout_delay(self.failures)
        if delay == 0:
            return 0.0, False
        if moment.boot is not None and moment.boot == self.boot:
            elapsed, rebase = moment.uptime - self.uptime, False
        elif moment.boot is not None:
            elapsed, rebase = 0.0, True
        else:
            elapsed = moment.wall - self.wall
            rebase = elapsed < 0
        return delay - min(max(elapsed, 0.0), delay), rebase


def _scrypt(pin: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(pin.encode())


def check_pin(pin: str) -> None:
    """A new PIN is six to 64 digits 0-9 (what a numeric keypad types)."""
    if len(pin) < PIN_LENGTH[0] or not pin.isascii() or not pin.isdigit():
        raise DidlibError("choose a PIN of at least six digits", code="weak_pin")
    if len(pin) > PIN_LENGTH[1]:
        raise DidlibError(f"choose a PIN of at most {PIN_LENGTH[1]} digits", code="weak_pin")


class WalletStore:
    """Open with :meth:`create` or :meth:`open`; ``records`` is the decrypted content; :meth:`save` writes it."""

    def __init__(self, path: Path, header: dict[str, Any], data_key: bytes, records: dict[str, Any],
                 provider: WrapKeyProvider, clock: Clock = now) -> None:
        self.path, self._header, self._data_key, self.records = path, header, data_key, records
        self.provider, self._clock = provider, clock
        # held while the records change and while they are written: the app changes them from its UI thread
        # and from background work (adding credentials, a top-up, answering a website) alike
        self.lock = threading.RLock()

    # ------------------------------------------------------------------------------------- files
    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            if path.stat().st_size > MAX_FILE:
                raise CorruptStore("the wallet file is too large to be a wallet")
            content = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptStore(f"the wallet file is damaged or truncated ({type(exc).__name__}); "
                               f"a backup may be at {path.with_suffix('.bak')}") from exc
        if not isinstance(content, dict) or content.get("v") != VERSION:
            raise CorruptStore("the wallet file is damaged or from another version")
        return content

    def _mac(self, header: dict[str, Any]) -> bytes:
        """The provider's MAC over what a wrong-PIN record must not be separated from: the count, the KDF and
        the wrapped key (so a count cannot be reset, nor copied from another file)."""
        signed = {"v": header["v"], "kdf": header["kdf"], "wrapped": header["wrapped"], "tries": header["tries"]}
        return self.provider.mac(b"didlib-wallet-tries", json.dumps(signed, sort_keys=True).encode())

    def _write(self, content: dict[str, Any], *, keep_backup: bool) -> None:
        """Write ``content`` atomically (mode 600). With ``keep_backup`` the file it replaces becomes the backup,
        but only if it decrypts with this wallet's data key: a damaged file never replaces a good backup."""
        content["mac"] = _b64(self._mac(content))
        if keep_backup and self._decrypts(self.path):
            write_private(self.path.with_suffix(".bak"), self.path.read_bytes())
        write_private(self.path, json.dumps(content).encode())

    def _decrypts(self, path: Path) -> bool:
        try:
            data = _unb64(self._read(path).get("data"), "data")
            AESGCM(self._data_key).decrypt(data[:12], data[12:], b"didlib-wallet-data")
        except (OSError, CorruptStore, InvalidTag, ValueError):
            return False
        return True

    # -------------------------------------------------------------------------------------- open
    @classmethod
    def create(cls, path: str | Path, pin: str, *, scrypt_n: int = SCRYPT_N, clock: Clock = now,
               provider: WrapKeyProvider | None = None) -> WalletStore:
        check_pin(pin)
        path = Path(path)
        provider = provider or default_provider(path)
        provider.create()
        header = {"v": VERSION, "kdf": {"n": scrypt_n, "salt": _b64(secrets.token_bytes(16))},
                  "tries": _Tries().as_json()}
        store = cls(path, header, AESGCM.generate_key(256), {}, provider, clock)
        store._wrap(pin)
        store.save()
        return store

    @classmethod
    def open(cls, path: str | Path, pin: str, *, clock: Clock = now,
             provider: WrapKeyProvider | None = None) -> WalletStore:
        """The store, if ``pin`` is right. :class:`CorruptStore` for a damaged or altered file (any header
        value out of shape included), :class:`LockedOut` while a delay runs, :class:`WrongPin` otherwise."""
        path = Path(path)
        content = cls._read(path)
        store = cls(path, content, b"", {}, provider or default_provider(path), clock)
        kdf, wrapped = content.get("kdf"), _unb64(content.get("wrapped"), "wrapped")
        if not isinstance(kdf, dict) or len(wrapped) != _WRAPPED_LEN:
            raise CorruptStore("the wallet file is damaged (key)")
        n, salt = kdf.get("n"), _unb64(kdf.get("salt"), "salt")
        if not isinstance(n, int) or isinstance(n, bool) or not SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] \
                or n & (n - 1) or len(salt) != 16:
            raise CorruptStore("the wallet file is damaged (kdf)")
        tries = store._verified_tries()
        moment = clock()
        wait, rebase = tries.wait(moment)
        if wait > 0:
            if rebase:
                content["tries"] = _Tries(tries.failures, moment.wall, moment.boot, moment.uptime).as_json()
                store._write(content, keep_backup=False)
            raise LockedOut(wait)
        kek = store.provider.mac(b"didlib-wallet-kek", _scrypt(pin, salt, n))
        try:
            data_key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"didlib-wallet-key")
        except InvalidTag:
            content["tries"] = _Tries(tries.failures + 1, moment.wall, moment.boot, moment.uptime).as_json()
            store._write(content, keep_backup=False)  # a wrong PIN never touches the backup
            raise WrongPin(tries.failures + 1) from None
        data = _unb64(content.get("data"), "data")
        try:
            records = json.loads(AESGCM(data_key).decrypt(data[:12], data[12:], b"didlib-wallet-data"))
        except (InvalidTag, ValueError, RecursionError) as exc:
            raise CorruptStore("the wallet's contents are damaged; restore the backup") from exc
        if not isinstance(records, dict):
            raise CorruptStore("the wallet's contents are damaged; restore the backup")
        store._data_key, store.records = data_key, records
        if tries.failures:
            store.save()
        return store

    @classmethod
    def tries_left(cls, path: str | Path, *, provider: WrapKeyProvider | None = None) -> int:
        """Wrong PINs still possible before a wait, from the file's record (checked under the provider's MAC,
        so an edited count is :class:`CorruptStore`); no PIN needed."""
        path = Path(path)
        return tries_left(cls(path, cls._read(path), b"", {}, provider or default_provider(path))
                          ._verified_tries().failures)

    def _verified_tries(self) -> _Tries:
        """The wrong-PIN record of the header as read, once the provider's MAC over it checks out."""
        tries = _Tries.parse(self._header.get("tries"))
        if "kdf" not in self._header or "wrapped" not in self._header or not hmac.compare_digest(
                _unb64(self._header.get("mac"), "mac"), self._mac(self._header)):
            raise CorruptStore("the wallet file was altered (its record of wrong PINs does not check out); "
                               "restore the backup")
        return tries

    # ------------------------------------------------------------------------------------- write
    def _wrap(self, pin: str) -> None:
        kdf = self._header["kdf"]
        kek = self.provider.mac(b"didlib-wallet-kek", _scrypt(pin, _unb64(kdf["salt"], "salt"), int(kdf["n"])))
        nonce = secrets.token_bytes(12)
        self._header["wrapped"] = _b64(nonce + AESGCM(kek).encrypt(nonce, self._data_key, b"didlib-wallet-key"))

    def _seal(self) -> None:
        """Encrypt the records into the header, with no wrong PINs counted (the PIN was right)."""
        nonce = secrets.token_bytes(12)
        body = AESGCM(self._data_key).encrypt(nonce, json.dumps(self.records).encode(), b"didlib-wallet-data")
        self._header["data"] = _b64(nonce + body)
        self._header["tries"] = _Tries().as_json()

    def save(self) -> None:
        with self.lock:
            self._seal()
            self._write(self._header, keep_backup=True)

    def change_pin(self, old: str, new: str) -> None:
        WalletStore.open(self.path, old, clock=self._clock, provider=self.provider)  # proves the old PIN
        check_pin(new)
        self._header["kdf"]["salt"] = _b64(secrets.token_bytes(16))
        self._wrap(new)
        self.save()

    def export(self, destination: str | Path, passphrase: str) -> None:
        """A backup file under its own ``passphrase`` (not the PIN): the records under a new data key, wrapped
        as the wallet's is (scrypt, then this device's key provider), so it too opens only on this device. It
        is a wallet file (``"backup": true`` tells the screens to ask for the passphrase); :meth:`restore`
        with ``new_pin`` makes it the wallet again."""
        header = {"v": VERSION, "kdf": {"n": self._header["kdf"]["n"], "salt": _b64(secrets.token_bytes(16))},
                  "tries": _Tries().as_json(), "backup": True}
        exported = WalletStore(Path(destination), header, AESGCM.generate_key(256), self.records, self.provider,
                           self._clock)
        exported._wrap(passphrase)
        exported._seal()
        exported._write(exported._header, keep_backup=False)

    @classmethod
    def restore(cls, backup: str | Path, path: str | Path, pin: str, *, clock: Clock = now,
                provider: WrapKeyProvider | None = None, new_pin: str | None = None) -> WalletStore:
        """Check the backup opens with ``pin`` (and this wallet's key provider), then make it the wallet; with
        ``new_pin`` (an exported backup, opened with its passphrase as ``pin``) under that PIN from now on."""
        provider = provider or default_provider(Path(path))
        if new_pin is not None:
            check_pin(new_pin)
        opened = cls.open(backup, pin, clock=clock, provider=provider)
        opened.path = Path(path)
        opened._header.pop("backup", None)
        if new_pin is not None:
            opened._header["kdf"]["salt"] = _b64(secrets.token_bytes(16))
            opened._wrap(new_pin)
            opened._seal()
        opened._write(opened._header, keep_backup=False)
        return cls.open(path, new_pin or pin, clock=clock, provider=provider)

    def delete_everything(self) -> None:
        for file in (self.path, self.path.with_suffix(".bak")):
            file.unlink(missing_ok=True)
        self.provider.forget()
        self.records, self._data_key = {}, b""
