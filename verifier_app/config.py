"""What the till remembers between runs, in its state folder: where its trust data comes from, its camera,
the operator's settings and the operator PIN that guards them, and where the organisation's volunteer register
is. A phone starts the app with no arguments, so everything it needs to start is here. No Kivy import.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from didlib.errors import DidlibError
from didlib.files import read_limited, write_private
from didlib.keys import PrivateKey, load_private_key
from didlib.pki import common_name_of
from verifier_app.model import REGISTER_STEPS, Settings

if TYPE_CHECKING:  # the register needs SQLAlchemy (didlib[service]): imported when a till uses one
    from volunteer_register import Register

__all__ = ["AppConfig", "CONFIG_FILE"]

CONFIG_FILE = "verifier.json"
REPLAY_FILE = "replay.sqlite"  # the nonces of codes already shown (didlib.verifier.ReplayCache)
READER_KEY_FILE, READER_CERT_FILE = "reader-key.pem", "reader-cert.pem"
REGISTER_FOLDER = "register"
MAX_PEM = 64 * 1024
MAX_CONFIG = 64 * 1024
MIN_PIN = 4


def _pin_hash(pin: str, salt: bytes) -> bytes:
    """scrypt (RFC 7914) with interactive-login costs: a guessed PIN costs a guesser real time."""
    return Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(pin.encode())


@dataclass
class AppConfig:
    folder: Path
    issuer: str | None = None  # the issuer service to update the trust list from
    trust_files: list[str] = field(default_factory=list)  # PEM certificates trusted directly (no trust list)
    camera: str = "0"  # a camera index or a video file
    reader_key: str | None = None
    reader_cert: str | None = None
    # the organisation's volunteer register: a folder (as volunteer-register --state) or a database URL;
    # None: REGISTER_FOLDER in the state folder
    register: str | None = None
    settings: Settings = field(default_factory=Settings)
    pin_salt: str | None = None
    pin_hash: str | None = None

    @classmethod
    def load(cls, folder: str | Path) -> AppConfig:
        """The saved configuration; a missing or damaged file gives the defaults (and the setup screen)."""
        folder = Path(folder)
        config = cls(folder)
        try:
            raw = (folder / CONFIG_FILE).read_bytes()
            data = json.loads(raw) if len(raw) <= MAX_CONFIG else {}
        except (OSError, ValueError):
            return config
        if not isinstance(data, dict):
            return config
        for name in ("issuer", "camera", "reader_key", "reader_cert", "register", "pin_salt", "pin_hash"):
            if isinstance(data.get(name), str):
                setattr(config, name, data[name])
        if isinstance(data.get("trust_files"), list):
            config.trust_files = [str(p) for p in data["trust_files"] if isinstance(p, str)]
        saved = data.get("settings")
        if isinstance(saved, dict):
            for name in ("freshness_seconds", "clear_after_seconds"):
                value = saved.get(name)
                if isinstance(value, int) and 1 <= value <= 3600:
                    setattr(config.settings, name, value)
            if isinstance(saved.get("dbs_minimum_level"), str):
                config.settings.dbs_minimum_level = saved["dbs_minimum_level"]
            if saved.get("volunteer_register") in REGISTER_STEPS:
                config.settings.volunteer_register = saved["volunteer_register"]
            distrusted = saved.get("distrusted")
            config.settings.distrusted = {str(n) for n in distrusted} if isinstance(distrusted, list) else set()
        return config

    def save(self) -> None:
        """Written atomically, readable by this user only (it holds the PIN's hash)."""
        data: dict[str, Any] = {k: v for k, v in asdict(self).items() if k not in ("folder", "settings")}
        data["settings"] = asdict(self.settings) | {"distrusted": sorted(self.settings.distrusted)}
        write_private(self.folder / CONFIG_FILE, json.dumps(data, indent=1).encode())

    # --------------------------------------------------------------------------------- register
    def register_place(self) -> str:
        return self.register or str(self.folder / REGISTER_FOLDER)

    def open_register(self) -> Register:
        """The organisation's volunteer register (opened only when a volunteer check uses it): SQLite in a
        folder, mode 600 in a folder of mode 700, or the database a URL names."""
        from volunteer_register import Register

        place = self.register_place()
        return Register(place) if "://" in place else Register.in_folder(Path(place))

    # ------------------------------------------------------------------------------- reader key
    def load_reader(self) -> tuple[PrivateKey | None, list[x509.Certificate]]:
        """The reader authentication key and certificate for challenge checks (none configured: None, [])."""
        if not self.reader_key or not self.reader_cert:
            return None, []
        key = load_private_key(read_limited(self.reader_key, MAX_PEM, "reader key"))
        cert = x509.load_pem_x509_certificate(read_limited(self.reader_cert, MAX_PEM, "reader certificate"))
        return key, [cert]

    def store_reader(self, key_file: str | Path, cert_file: str | Path) -> str:
        """Copy a reader key and its certificate (from the organisation, on a memory card) into the state
        folder, so a phone needs no command line. Returns what to show."""
        try:
            key_pem = read_limited(key_file, MAX_PEM, "reader key")
            cert_pem = read_limited(cert_file, MAX_PEM, "reader certificate")
            key = load_private_key(key_pem)
            cert = x509.load_pem_x509_certificate(cert_pem)
        except DidlibError as exc:
            return f"Could not use these files: {exc.message}"
        except ValueError:
            return "Could not use these files: the second one is not a certificate"
        spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            return "The key and the certificate do not belong together"
        write_private(self.folder / READER_KEY_FILE, key_pem)
        write_private(self.folder / READER_CERT_FILE, cert_pem)
        self.reader_key = str(self.folder / READER_KEY_FILE)
        self.reader_cert = str(self.folder / READER_CERT_FILE)
        self.save()
        return f"Reader key loaded: {common_name_of(cert)}"

    # ------------------------------------------------------------------------------- operator PIN
    @property
    def has_pin(self) -> bool:
        return bool(self.pin_salt and self.pin_hash)

    def set_pin(self, pin: str) -> None:
        if not pin.isdigit() or len(pin) < MIN_PIN:
            raise ValueError(f"the PIN must be at least {MIN_PIN} digits")
        salt = secrets.token_bytes(16)
        self.pin_salt, self.pin_hash = salt.hex(), _pin_hash(pin, salt).hex()
        self.save()

    def check_pin(self, pin: str) -> bool:
        if not self.pin_salt or not self.pin_hash:
            return False
        try:
            expected = bytes.fromhex(self.pin_hash)
            salt = bytes.fromhex(self.pin_salt)
        except ValueError:
            return False
        return hmac.compare_digest(_pin_hash(pin, salt), expected)
