"""Annex B certificate profiles and chain checks: what we create fits, and every misfit is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from didlib import TrustStore
from didlib.errors import CertificateError, UntrustedIssuer
from didlib.keys import generate_key
from didlib.pki import (
    OID_MDL_DS,
    ChainCache,
    Purpose,
    check_chain,
    country_of,
    create_document_signer,
    create_iaca,
    create_reader_ca,
    create_reader_certificate,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + dt.timedelta(days=10)


@pytest.fixture(scope="module")
def iaca():
    key = generate_key()
    return key, create_iaca(key, country="GB", common_name="Test IACA", not_before=T0)


@pytest.fixture(scope="module")
def ds(iaca):
    key = generate_key()
    return key, create_document_signer(iaca[1], iaca[0], key.public_key(), common_name="Test DS", not_before=T0)


def code_of(func, *args):
    with pytest.raises(CertificateError) as info:
        func(*args)
    return info.value.code


def test_created_iaca_fits_profile(iaca):
    cert = iaca[1]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert cert.extensions.get_extension_for_class(x509.IssuerAlternativeName)
    assert cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert country_of(cert) == "GB"
    assert 63 <= cert.serial_number.bit_length() <= 159


def test_created_ds_fits_profile(iaca, ds):
    cert = ds[1]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [OID_MDL_DS]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = iaca[1].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert country_of(cert) == "GB"
    result = check_chain([cert], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER)
    assert result.anchor == iaca[1] and result.warnings == []


def test_iaca_sent_along_is_accepted(iaca, ds):
    assert check_chain([ds[1], iaca[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER).anchor == iaca[1]


def test_untrusted_issuer(iaca, ds):
    other_key = generate_key()
    other = create_iaca(other_key, country="GB", common_name="Test IACA", not_before=T0)  # same name, other key
    with pytest.raises(UntrustedIssuer):
        check_chain([ds[1]], [other], Purpose.DOCUMENT_SIGNER, LATER)
    with pytest.raises(UntrustedIssuer):
        check_chain([ds[1], other], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER)


def test_expired_and_not_yet_valid(iaca, ds):
    assert (
        code_of(check_chain, [ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, T0 + dt.timedelta(days=400))
        == "certificate_expired"
    )
    assert (
        code_of(check_chain, [ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, T0 - dt.timedelta(days=1))
        == "certificate_not_yet_valid"
    )


def test_wrong_purpose(iaca, ds):
    assert code_of(check_chain, [ds[1]], [iaca[1]], Purpose.READER_AUTH, LATER) == "wrong_key_purpose"


def test_country_mismatch(iaca):
    key = generate_key()
    fr_iaca = create_iaca(key, country="FR", common_name="FR IACA", not_before=T0)
    ds_key = generate_key()
    # A DS that names GB, signed by the FR IACA: build it by hand.
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "GB"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "DS"),
                ]
            )
        )
        .issuer_name(fr_iaca.subject)
        .public_key(ds_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + dt.timedelta(days=100))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
        .add_extension(x509.ExtendedKeyUsage([OID_MDL_DS]), True)
    )
    forged = builder.sign(key, __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256())
    assert code_of(check_chain, [forged], [fr_iaca], Purpose.DOCUMENT_SIGNER, LATER) == "country_mismatch"


def test_leaf_that_is_a_ca_is_refused(iaca):
    # The IACA itself presented as a document signer.
    assert code_of(check_chain, [iaca[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER) == "certificate_invalid"


def test_ds_validity_limit(iaca):
    with pytest.raises(CertificateError):
        create_document_signer(iaca[1], iaca[0], generate_key().public_key(), common_name="x", days=458)


def test_reader_certificates():
    ca_key = generate_key()
    ca = create_reader_ca(ca_key, common_name="Reader CA", not_before=T0)
    reader = create_reader_certificate(
        ca,
        ca_key,
        generate_key().public_key(),
        common_name="Corner Shop",
        organisation="Corner Shop Ltd",
        not_before=T0,
    )
    assert check_chain([reader], [ca], Purpose.READER_AUTH, LATER).leaf == reader
    assert code_of(check_chain, [reader], [ca], Purpose.DOCUMENT_SIGNER, LATER) == "wrong_key_purpose"
    with pytest.raises(CertificateError):
        create_reader_certificate(ca, ca_key, generate_key().public_key(), common_name="x", days=1188)


def test_trust_store_loading(tmp_path, pki):
    store = TrustStore.from_pem_files([pki.folder / "iaca.pem", pki.folder / "ds.pem"])
    assert len(store) == 1 and len(store.document_signers) == 1
    with pytest.raises(CertificateError):
        TrustStore.from_pem_files([pki.folder / "reader.pem"])  # neither a CA nor a document signer
    with pytest.raises(CertificateError):
        TrustStore.from_pem_files([pki.folder])  # a PKI folder mixes roles: refused, not guessed
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(CertificateError):
        TrustStore.from_pem_files([tmp_path / "junk.pem"])
    from didlib.errors import UsageError

    with pytest.raises(UsageError):
        TrustStore.from_pem_files([tmp_path / "missing.pem"])
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "a.pem").write_bytes((pki.folder / "iaca.pem").read_bytes())
    (anchors / "b.pem").write_bytes((pki.folder / "ds.pem").read_bytes())
    assert len(TrustStore.from_pem_files([anchors])) == 1


def test_chain_cache_never_passes_what_should_fail(iaca, ds):
    """Issue 17: after a cached success, an expired leaf or root, an anchor no longer trusted (the issuer
    taken off the trust list), another chain whose leaf has the same subject and issuer name, and the same
    leaf for another purpose are all still refused; the cache is keyed by the exact certificate bytes."""
    cache = ChainCache()
    assert check_chain([ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER, cache).anchor == iaca[1]
    assert cache.stats() == {"hits": 0, "misses": 1, "size": 1, "maxsize": 1024}
    assert check_chain([ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER, cache).warnings == []
    assert cache.stats()["hits"] == 1

    # expired, not yet valid: time is checked on every call, hit or not
    assert code_of(check_chain, [ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, T0 + dt.timedelta(days=400),
                   cache) == "certificate_expired"
    assert code_of(check_chain, [ds[1]], [iaca[1]], Purpose.DOCUMENT_SIGNER, T0 - dt.timedelta(days=1),
                   cache) == "certificate_not_yet_valid"
    # revoked: the issuer's IACA is no longer among the anchors (a new trust list without it)
    other_key = generate_key()
    other_iaca = create_iaca(other_key, country="GB", common_name="Test IACA", not_before=T0)
    for anchors in ([], [other_iaca]):
        with pytest.raises(UntrustedIssuer):
            check_chain([ds[1]], anchors, Purpose.DOCUMENT_SIGNER, LATER, cache)
        with pytest.raises(UntrustedIssuer):
            TrustStore(anchors).check([ds[1]], Purpose.DOCUMENT_SIGNER, LATER)
    # a different chain with the same subject: same names, signed by another key
    forged = create_document_signer(other_iaca, other_key, generate_key().public_key(), common_name="Test DS",
                                    not_before=T0)
    assert forged.subject == ds[1].subject and forged.issuer == ds[1].issuer
    with pytest.raises(UntrustedIssuer):
        check_chain([forged], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER, cache)
    # the same leaf, checked for another purpose
    assert code_of(check_chain, [ds[1]], [iaca[1]], Purpose.READER_AUTH, LATER, cache) == "wrong_key_purpose"
    assert cache.stats()["size"] == 1  # no failure was remembered


def test_chain_cache_is_bounded(iaca):
    cache = ChainCache(maxsize=2)
    leaves = [
        create_document_signer(iaca[1], iaca[0], generate_key().public_key(), common_name=f"DS {n}", not_before=T0)
        for n in range(3)
    ]
    for leaf in leaves:
        check_chain([leaf], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER, cache)
    check_chain([leaves[0]], [iaca[1]], Purpose.DOCUMENT_SIGNER, LATER, cache)  # evicted: a miss
    assert cache.stats() == {"hits": 0, "misses": 4, "size": 2, "maxsize": 2}
