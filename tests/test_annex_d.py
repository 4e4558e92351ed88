"""Known-answer tests on the ISO/IEC 18013-5 Annex D vectors (device response, MSO, device MAC, PKI)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from didlib import TrustStore
from didlib.cbor import Embedded, decode, encode
from didlib.cose import Mac0, Sign1
from didlib.errors import CertificateError
from didlib.keys import cose_key_from_public, public_key_from_cose
from didlib.mdoc import verify_response
from didlib.mdoc.device_auth import emac_key
from didlib.mdoc.structures import IssuerSigned, device_authentication_bytes
from didlib.pki import Purpose, common_name_of, country_of

ANNEX_D_TIME = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)


def _private(d: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())


@pytest.fixture(scope="module")
def transcript(annex_d) -> bytes:
    return Embedded.from_raw(annex_d["SESSION_TRANSCRIPT_BYTES"]).content


@pytest.fixture(scope="module")
def iaca_trust(annex_d) -> TrustStore:
    return TrustStore([x509.load_der_x509_certificate(annex_d["IACA_CERT"])])


def verify_annex_d(annex_d, trust, transcript, reader_key="vector", now=ANNEX_D_TIME):
    """Verify the Annex D DeviceResponse; by default with the vector's reader key at a time it was valid."""
    if reader_key == "vector":
        reader_key = _private(annex_d["EPHEMERAL_READER_KEY_D"])
    return verify_response(annex_d["DEVICE_RESPONSE"], trust=trust, session_transcript=transcript,
                           reader_key=reader_key, now=now)


def test_device_response_verifies_with_mac(annex_d, transcript, iaca_trust):
    result = verify_annex_d(annex_d, iaca_trust, transcript)
    assert result.valid, result.errors
    doc = result.documents[0]
    assert doc.doctype == "org.iso.18013.5.1.mDL"
    assert doc.device_auth == "mac"
    assert doc.issuer == "utopia iaca"
    elements = doc.elements["org.iso.18013.5.1"]
    assert set(elements) == {
        "family_name",
        "issue_date",
        "expiry_date",
        "document_number",
        "portrait",
        "driving_privileges",
    }
    assert elements["family_name"] == "Doe"
    assert elements["issue_date"] == dt.date(2019, 10, 20)
    assert elements["portrait"] == annex_d["DEVICE_RESPONSE_PORTRAIT_DATA"]
    assert elements["driving_privileges"][1]["vehicle_category_code"] == "B"
    assert doc.valid_until == dt.datetime(2021, 10, 1, 13, 30, 2, tzinfo=dt.UTC)


def test_device_response_is_expired_today(annex_d, transcript, iaca_trust):
    result = verify_annex_d(annex_d, iaca_trust, transcript, now=None)
    assert not result.valid
    assert {p.code for p in result.errors} == {"certificate_expired", "mso_expired"}


def test_mac_with_wrong_reader_key_fails(annex_d, transcript, iaca_trust):
    result = verify_annex_d(annex_d, iaca_trust, transcript, reader_key=ec.generate_private_key(ec.SECP256R1()))
    assert not result.valid
    assert [p.code for p in result.errors] == ["device_auth_failed"]
    assert result.documents[0].checks["device_auth"] is False


def test_mac_without_reader_key_is_reported(annex_d, transcript, iaca_trust):
    result = verify_annex_d(annex_d, iaca_trust, transcript, reader_key=None)
    assert [p.code for p in result.errors] == ["missing_reader_key"]


def test_untrusted_iaca_rejects(annex_d, transcript, pki):
    other = TrustStore.from_pem_files([pki.folder / "iaca.pem"])
    result = verify_annex_d(annex_d, other, transcript)
    assert [p.code for p in result.errors] == ["untrusted_issuer"]
    assert result.documents[0].elements == {}, "values from an untrusted issuer must not be handed out"


def test_wrong_transcript_rejects(annex_d, iaca_trust, session):
    transcript, _ = session
    result = verify_annex_d(annex_d, iaca_trust, transcript)
    assert [p.code for p in result.errors] == ["device_auth_failed"]


def test_device_authentication_bytes_reproduced(annex_d, transcript):
    assert (
        device_authentication_bytes(transcript, "org.iso.18013.5.1.mDL", Embedded.wrap({}))
        == annex_d["DEVICE_AUTHENTICATION_BYTES"]
    )


def test_emac_key_and_device_mac_reproduced(annex_d, transcript):
    device_public = public_key_from_cose(
        {1: 2, -1: 1, -2: annex_d["STATIC_DEVICE_KEY_X"], -3: annex_d["STATIC_DEVICE_KEY_Y"]}
    )
    reader_side = emac_key(_private(annex_d["EPHEMERAL_READER_KEY_D"]), device_public, transcript)
    device_side = emac_key(
        _private(annex_d["STATIC_DEVICE_KEY_D"]), _private(annex_d["EPHEMERAL_READER_KEY_D"]).public_key(), transcript
    )
    assert reader_side == device_side == annex_d["E_MAC_KEY"]
    mac = Mac0.create(reader_side, annex_d["DEVICE_AUTHENTICATION_BYTES"], detached=True)
    assert encode(mac.to_cbor()) == annex_d["DEVICE_MAC"]


def test_issuer_auth_mso_and_chain(annex_d):
    auth = Sign1.from_cbor(decode(annex_d["ISSUER_AUTH"]))
    assert auth.unprotected[33] == annex_d["DS_CERT"], "x5chain is one bstr for one certificate"
    assert auth.payload == annex_d["MOBILE_SECURITY_OBJECT_BYTES"]
    ds = auth.x5chain()[0]
    auth.verify(ds.public_key())
    chain = TrustStore([x509.load_der_x509_certificate(annex_d["IACA_CERT"])]).check(
        [ds], Purpose.DOCUMENT_SIGNER, ANNEX_D_TIME
    )
    assert (common_name_of(chain.anchor), country_of(chain.anchor)) == ("utopia iaca", "US")
    assert chain.warnings == []


def test_mso_digests_cover_the_received_item_bytes(annex_d):
    response = decode(annex_d["DEVICE_RESPONSE"])
    issuer_signed = IssuerSigned.parse(response["documents"][0]["issuerSigned"])
    mso = issuer_signed.mso()
    assert mso.device_key_cose == cose_key_from_public(public_key_from_cose(mso.device_key_cose))
    for item in issuer_signed.namespaces["org.iso.18013.5.1"]:
        assert hashlib.sha256(item.embedded.raw).digest() == mso.value_digests["org.iso.18013.5.1"][item.digest_id]
    assert sorted(mso.value_digests["org.iso.18013.5.1"]) == list(range(13))
    assert sorted(mso.value_digests["org.iso.18013.5.1.US"]) == list(range(4))


def test_device_response_reencodes_byte_identically(annex_d):
    """Embedded items are written back exactly as received, so a relayed response keeps its bytes."""
    import cbor2

    from didlib.cbor import _default

    assert cbor2.dumps(decode(annex_d["DEVICE_RESPONSE"]), default=_default) == annex_d["DEVICE_RESPONSE"]


def test_reader_root_and_reader_cert(annex_d):
    anchors = TrustStore([x509.load_der_x509_certificate(annex_d["READER_ROOT_CERT"])])
    reader = x509.load_der_x509_certificate(annex_d["READER_CERT"])
    assert anchors.check([reader], Purpose.READER_AUTH, ANNEX_D_TIME).leaf == reader
    with pytest.raises(CertificateError) as info:
        anchors.check([reader], Purpose.DOCUMENT_SIGNER, ANNEX_D_TIME)
    assert info.value.code == "wrong_key_purpose"
