"""The wallet's encrypted store: one file, a random data key wrapped by a key derived from the PIN.

Headless Linux has no usable keyring, so: scrypt(PIN, salt) -> key-encryption key -> AES-256-GCM wrap of a
random 256-bit data key -> AES-256-GCM of the records (JSON). Changing the PIN rewraps the data key only.
Writes are atomic (temporary file, fsync, rename) and the previous good file is kept as ``.bak``; a
corrupt or truncated file is reported as such, with the backup still there. Wrong PINs are counted in the
clear part of the file, with a growing delay before the next try.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from didlib.errors import DidlibError
from didlib.files import write_private

__all__ = ["WalletStore", "WrongPin", "LockedOut", "CorruptStore", "lockout_delay"]

VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_FILE = 64 << 20


class WrongPin(DidlibError):
    code = "wrong_pin"


class LockedOut(DidlibError):
    code = "locked_out"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"too many wrong PINs: try again in {int(seconds) + 1} seconds")
        self.seconds = seconds


class CorruptStore(DidlibError):
    code = "corrupt_store"


def lockout_delay(failures: int) -> int:
    """Seconds to wait after ``failures`` wrong PINs in a row: three free tries, then 30 s doubling to 1 h."""
    return 0 if failures < 3 else min(30 * 2 ** (failures - 3), 3600)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise CorruptStore("the wallet file is damaged")
    return base64.b64decode(text)


def _kek(pin: str, salt: bytes, n: int = SCRYPT_N) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(pin.encode())


class WalletStore:
    """Open with :meth:`create` or :meth:`open`; ``records`` is the decrypted content; :meth:`save` writes it."""

    def __init__(self, path: Path, header: dict[str, Any], data_key: bytes, records: dict[str, Any],
                 clock: Any = time.time) -> None:
        self.path, self._header, self._data_key, self.records, self._clock = path, header, data_key, records, clock

    # ------------------------------------------------------------------------------------- files
    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            if path.stat().st_size > MAX_FILE:
                raise CorruptStore("the wallet file is too large to be a wallet")
            content = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise CorruptStore(f"the wallet file is damaged or truncated ({type(exc).__name__}); "
                               f"a backup may be at {path.with_suffix('.bak')}") from exc
        if not isinstance(content, dict) or content.get("v") != VERSION:
            raise CorruptStore("the wallet file is damaged or from another version")
        return content

    def _write(self, content: dict[str, Any], *, keep_backup: bool) -> None:
        """Write ``content`` atomically (mode 600). With ``keep_backup`` the file it replaces becomes the backup,
        but only if it decrypts with this wallet's data key: a damaged file never replaces a good backup."""
        if keep_backup and self._decrypts(self.path):
            write_private(self.path.with_suffix(".bak"), self.path.read_bytes())
        write_private(self.path, json.dumps(content).encode())

    def _decrypts(self, path: Path) -> bool:
        try:
            data = _unb64(self._read(path).get("data"))
            AESGCM(self._data_key).decrypt(data[:12], data[12:], b"didlib-wallet-data")
        except (OSError, CorruptStore, InvalidTag, ValueError):
            return False
        return True

    @classmethod
    def exists(cls, path: Path) -> bool:
        return path.exists()

    # -------------------------------------------------------------------------------------- open
    @classmethod
    def create(cls, path: str | Path, pin: str, *, scrypt_n: int = SCRYPT_N, clock: Any = time.time) -> WalletStore:
        if len(pin) < 6 or not pin.isdigit():
            raise DidlibError("choose a PIN of at least six digits", code="weak_pin")
        salt, data_key = secrets.token_bytes(16), AESGCM.generate_key(256)
        header = {"v": VERSION, "kdf": {"n": scrypt_n, "salt": _b64(salt)}, "failures": 0, "last_failure": 0}
        store = cls(Path(path), header, data_key, {}, clock)
        store._wrap(pin)
        store.save()
        return store

    @classmethod
    def open(cls, path: str | Path, pin: str, *, clock: Any = time.time) -> WalletStore:
        path = Path(path)
        content = cls._read(path)
        failures, last = int(content.get("failures", 0)), float(content.get("last_failure", 0))
        wait = last + lockout_delay(failures) - clock()
        if wait > 0:
            raise LockedOut(wait)
        try:
            kdf = content["kdf"]
            wrapped = _unb64(content["wrapped"])
            kek = _kek(pin, _unb64(kdf["salt"]), int(kdf["n"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStore("the wallet file is damaged") from exc
        try:
            data_key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"didlib-wallet-key")
        except InvalidTag:
            content["failures"], content["last_failure"] = failures + 1, clock()
            store = cls(path, content, b"", {}, clock)
            store._write(content, keep_backup=False)
            raise WrongPin(f"wrong PIN ({failures + 1} in a row)") from None
        data = _unb64(content.get("data"))
        try:
            records = json.loads(AESGCM(data_key).decrypt(data[:12], data[12:], b"didlib-wallet-data"))
        except (InvalidTag, ValueError) as exc:
            raise CorruptStore("the wallet's contents are damaged; restore the backup") from exc
        content["failures"] = 0
        store = cls(path, content, data_key, records, clock)
        if failures:
            store.save()
        return store

    # ------------------------------------------------------------------------------------- write
    def _wrap(self, pin: str) -> None:
        kdf = self._header["kdf"]
        kek = _kek(pin, _unb64(kdf["salt"]), int(kdf["n"]))
        nonce = secrets.token_bytes(12)
        self._header["wrapped"] = _b64(nonce + AESGCM(kek).encrypt(nonce, self._data_key, b"didlib-wallet-key"))

    def save(self) -> None:
        nonce = secrets.token_bytes(12)
        body = AESGCM(self._data_key).encrypt(nonce, json.dumps(self.records).encode(), b"didlib-wallet-data")
        self._header["data"] = _b64(nonce + body)
        self._header["failures"] = 0
        self._write(self._header, keep_backup=True)

    def change_pin(self, old: str, new: str) -> None:
        WalletStore.open(self.path, old, clock=self._clock)  # proves the old PIN (and counts a wrong one)
        if len(new) < 6 or not new.isdigit():
            raise DidlibError("choose a PIN of at least six digits", code="weak_pin")
        self._header["kdf"]["salt"] = _b64(secrets.token_bytes(16))
        self._wrap(new)
        self.save()

    def backup(self, destination: str | Path) -> None:
        """The encrypted file as it is: useless without the PIN."""
        Path(destination).write_text(json.dumps(self._header))

    @classmethod
    def restore(cls, backup: str | Path, path: str | Path, pin: str) -> WalletStore:
        """Check the backup opens with ``pin``, then make it the wallet."""
        opened = cls.open(backup, pin)
        opened.path = Path(path)
        opened._write(opened._header, keep_backup=False)
        return cls.open(path, pin)

    def delete_everything(self) -> None:
        for file in (self.path, self.path.with_suffix(".bak")):
            file.unlink(missing_ok=True)
        self.records, self._data_key = {}, b""
