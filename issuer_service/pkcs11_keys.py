"""Document signer keys inside a PKCS#11 token (an HSM; SoftHSM2 in tests), through python-pkcs11.

The key never leaves the token: :class:`Pkcs11EcKey` presents it to didlib as a ``cryptography`` EC private
key whose ``sign`` hashes locally and has the token sign the digest (CKM_ECDSA). On first start with
``DIDLIB_KEYS=pkcs11`` each authority's key pair is generated in the token and a document signer
certificate is issued for it by the authority's IACA.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from didlib.errors import BadKey, UnsupportedError
from didlib.pki import common_name_of, create_document_signer
from didlib.pkidir import PkiDir
from issuer_service.config import Settings

__all__ = ["Pkcs11EcKey", "provision"]

_SESSIONS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _session(settings: Settings) -> Any:
    """One logged-in session per token for the whole process (PKCS#11 logs in per application)."""
    import pkcs11

    if not settings.pkcs11_module or settings.pkcs11_pin is None:
        raise BadKey("DIDLIB_KEYS=pkcs11 needs DIDLIB_PKCS11_MODULE and DIDLIB_PKCS11_PIN")
    key = (settings.pkcs11_module, settings.pkcs11_token)
    with _LOCK:
        if key not in _SESSIONS:
            token = pkcs11.lib(settings.pkcs11_module).get_token(token_label=settings.pkcs11_token)
            _SESSIONS[key] = token.open(user_pin=settings.pkcs11_pin, rw=True)
        return _SESSIONS[key]


class Pkcs11EcKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key held by a PKCS#11 token. Signing is serialised: the session is not thread-safe."""

    def __init__(self, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._private, self._public = private, public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        import pkcs11

        algorithm = signature_algorithm.algorithm if isinstance(signature_algorithm, ec.ECDSA) else None
        if not isinstance(algorithm, hashes.HashAlgorithm) or isinstance(algorithm, Prehashed):
            raise UnsupportedError("only ECDSA signatures over the data are made with token keys")
        digest = hashes.Hash(algorithm)
        digest.update(data)
        with _LOCK:  # the shared session is not thread-safe
            raw = self._private.sign(digest.finalize(), mechanism=pkcs11.Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise UnsupportedError("document signer keys only sign")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise UnsupportedError("a token key cannot be exported")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise UnsupportedError("a token key cannot be exported")

    def __copy__(self) -> Pkcs11EcKey:
        return self

    def __deepcopy__(self, memo: dict) -> Pkcs11EcKey:
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pkcs11EcKey) and other._private == self._private

    def __hash__(self) -> int:
        return hash(
            self.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def _public_of(public_object: Any) -> ec.EllipticCurvePublicKey:
    from pkcs11.util.ec import encode_ec_public_key

    key = serialization.load_der_public_key(encode_ec_public_key(public_object))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadKey("the token key is not an EC key")
    return key


def provision(settings: Settings, label: str, pki: PkiDir) -> tuple[Pkcs11EcKey, x509.Certificate]:
    """The token key ``label`` (generated on first use) and the document signer certificate for it."""
    import pkcs11
    from pkcs11.util.ec import encode_named_curve_parameters

    session = _session(settings)
    try:
        private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, key_type=pkcs11.KeyType.EC, label=label)
        public = session.get_key(object_class=pkcs11.ObjectClass.PUBLIC_KEY, key_type=pkcs11.KeyType.EC, label=label)
    except pkcs11.NoSuchKey:
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC, {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        public, private = params.generate_keypair(store=True, label=label)
    key = Pkcs11EcKey(private, _public_of(public))
    cert_path = pki.folder / f"{label}.pem"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes()) if cert_path.exists() else None
    if cert is None or cert.public_key() != key.public_key():
        iaca = pki.certificate("iaca")
        name = common_name_of(iaca).removesuffix(" IACA")
        cert = create_document_signer(
            iaca, pki.key("iaca"), key.public_key(), common_name=f"{name} HSM Document Signer"
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert
