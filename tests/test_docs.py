"""The documentation site: every guide's code runs as written (the runner tests/test_readme.py uses too), the
error codes table covers every code, a public name without a docstring fails the strict build, and the
version is written in one place."""

from __future__ import annotations

import pytest

from conftest import ROOT
from markdown_code import blocks, run_page

GUIDES = ROOT / "docs" / "guides"


def run_guide(name: str, tmp_path, monkeypatch, namespace: dict | None = None) -> dict:
    monkeypatch.chdir(tmp_path)
    page = GUIDES / f"{name}.md"
    assert blocks(page), f"{name}.md has no code"
    return run_page(page, namespace=namespace)


def test_till_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("till", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "accept OVER 18" in out and "replayed" in out
    assert namespace["verdict"].decision == "accept"


def test_verify_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("verify", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "org.iso.18013.5.1.mDL True" in out and "['kb_nonce_mismatch']" in out
    assert "device_auth_failed" in out and "digest_mismatch" in out
    assert namespace["checked"].valid and not namespace["wrong_nonce"].valid


def test_issuer_service_guide(tmp_path, monkeypatch, capsys):
    namespace: dict = {}
    try:
        run_guide("issuer-service", tmp_path, monkeypatch, namespace)
        out = capsys.readouterr().out
        assert "3 uk.gov.dvla.age.1" in out and "invalid" in out
        assert namespace["service"].returncode is not None, "the guide stops the service it started"
    finally:
        if namespace.get("service") is not None and namespace["service"].poll() is None:
            namespace["service"].kill()


def test_website_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("website", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "Example Shop ['age_over_18']" in out
    assert out.count("'valid': True, 'claims': {'age_over_18': True}") == 2, out
    assert namespace["protocol"] == "openid4vp-v1-signed"


def test_credential_type_guide(tmp_path, monkeypatch, capsys):
    from didlib.mdoc import registry

    monkeypatch.setattr(registry, "PROFILES", dict(registry.PROFILES))  # the guide registers a type
    namespace = run_guide("credential-type", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "True {'age_over_18': True, 'card_number': '00421337'}" in out
    assert "invalid_element org.example.library.1.card_number" in out
    assert namespace["NS"] in registry.PROFILES


def test_trust_guide(tmp_path, monkeypatch, capsys):
    run_guide("trust", tmp_path, monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["DVLA IACA", "untrusted_issuer"]
    assert out[2] == "Corner Shop {'uk.gov.dvla.age.1': {'uk.gov.dvla.age.1': ['age_over_18']}}"
    assert out[3:] == ["1 1 ['https://dvla.example/status/1']", "bad_signature"]
