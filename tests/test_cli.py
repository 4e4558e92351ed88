"""The didlib command: the documented contract, exit codes and JSON shape."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from didlib.cli import main
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.samples import mdl_data, proof_of_age_data


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def world(tmp_path, capsys):
    assert run(capsys, "pki", "init", tmp_path / "pki")[0] == 0
    assert run(capsys, "keygen", tmp_path / "phone.pem")[0] == 0
    assert (
        run(capsys, "transcript", "new", "--out", tmp_path / "t.cbor", "--reader-key-out", tmp_path / "reader.pem")[0]
        == 0
    )
    (tmp_path / "licence.json").write_text(json.dumps(mdl_data()))
    code, out, _ = run(
        capsys,
        "issue",
        "mdoc",
        "--doctype",
        DOCTYPE_MDL,
        "--data",
        tmp_path / "licence.json",
        "--pki",
        tmp_path / "pki",
        "--device-key",
        tmp_path / "phone.pem",
        "--out",
        tmp_path / "cred.cbor",
    )
    assert code == 0 and out["docType"] == DOCTYPE_MDL
    return tmp_path


def test_pki_init_writes_the_documented_files(world):
    names = {p.name for p in (world / "pki").iterdir()}
    assert names == {
        "iaca.pem",
        "iaca.key",
        "ds.pem",
        "ds.key",
        "reader-ca.pem",
        "reader-ca.key",
        "reader.pem",
        "reader.key",
    }
    assert (world / "pki" / "ds.key").stat().st_mode & 0o077 == 0


def test_pki_init_refuses_to_overwrite(world, capsys):
    code, _, err = run(capsys, "pki", "init", world / "pki")
    assert code == 2 and "refusing" in err


@pytest.mark.parametrize("mac", [False, True])
def test_present_and_verify(world, capsys, mac):
    extra = ["--mac"] if mac else []
    assert (
        run(
            capsys,
            "present",
            "mdoc",
            world / "cred.cbor",
            "--device-key",
            world / "phone.pem",
            "--transcript",
            world / "t.cbor",
            "--disclose",
            "age_over_18,portrait",
            "--out",
            world / "resp.cbor",
            *extra,
        )[0]
        == 0
    )
    reader = ["--reader-key", world / "reader.pem"] if mac else []
    code, out, _ = run(
        capsys,
        "verify",
        "mdoc",
        world / "resp.cbor",
        "--trust",
        world / "pki" / "iaca.pem",
        "--transcript",
        world / "t.cbor",
        *reader,
    )
    assert code == 0
    assert out["valid"] is True and out["errors"] == []
    doc = out["documents"][0]
    assert doc["docType"] == DOCTYPE_MDL
    assert doc["deviceAuth"] == ("mac" if mac else "signature")
    assert doc["issuer"] == "DVLA IACA"
    assert doc["elements"]["org.iso.18013.5.1"]["age_over_18"] is True
    assert base64.b64decode(doc["elements"]["org.iso.18013.5.1"]["portrait"]).startswith(b"\xff\xd8")
    assert doc["validUntil"].endswith("Z")


def test_verify_invalid_exits_1(world, capsys):
    run(
        capsys,
        "present",
        "mdoc",
        world / "cred.cbor",
        "--device-key",
        world / "phone.pem",
        "--transcript",
        world / "t.cbor",
        "--disclose",
        "age_over_18",
        "--out",
        world / "resp.cbor",
    )
    assert run(capsys, "transcript", "new", "--out", world / "t2.cbor")[0] == 0
    code, out, _ = run(
        capsys,
        "verify",
        "mdoc",
        world / "resp.cbor",
        "--trust",
        world / "pki" / "iaca.pem",
        "--transcript",
        world / "t2.cbor",
    )
    assert code == 1 and out["valid"] is False
    assert out["errors"][0]["code"] == "device_auth_failed"
    code, out, _ = run(
        capsys,
        "verify",
        "mdoc",
        world / "resp.cbor",
        "--trust",
        world / "pki" / "iaca.pem",
        "--transcript",
        world / "t.cbor",
        "--now",
        "2099-01-01T00:00:00Z",
    )
    assert code == 1 and {e["code"] for e in out["errors"]} >= {"mso_expired", "certificate_expired"}
    (world / "junk.cbor").write_bytes(b"\x00\x01junk")
    code, out, _ = run(
        capsys,
        "verify",
        "mdoc",
        world / "junk.cbor",
        "--trust",
        world / "pki" / "iaca.pem",
        "--transcript",
        world / "t.cbor",
    )
    assert code == 1 and out["errors"][0]["code"] == "malformed"


def test_usage_errors_exit_2(world, capsys):
    assert (
        run(
            capsys,
            "verify",
            "mdoc",
            world / "missing.cbor",
            "--trust",
            world / "pki" / "iaca.pem",
            "--transcript",
            world / "t.cbor",
        )[0]
        == 2
    )
    assert (
        run(
            capsys,
            "verify",
            "mdoc",
            world / "cred.cbor",
            "--trust",
            world / "pki" / "ds.pem",
            "--transcript",
            world / "t.cbor",
        )[0]
        == 2
    )
    assert (
        run(
            capsys,
            "present",
            "mdoc",
            world / "t.cbor",
            "--device-key",
            world / "phone.pem",
            "--transcript",
            world / "t.cbor",
            "--disclose",
            "x",
            "--out",
            world / "r.cbor",
        )[0]
        == 2
    )
    assert (
        run(
            capsys,
            "present",
            "mdoc",
            world / "cred.cbor",
            "--device-key",
            world / "t.cbor",
            "--transcript",
            world / "t.cbor",
            "--disclose",
            "x",
            "--out",
            world / "r.cbor",
        )[0]
        == 2
    )
    assert (
        run(
            capsys,
            "present",
            "mdoc",
            world / "cred.cbor",
            "--device-key",
            world / "phone.pem",
            "--transcript",
            world / "cred.cbor",
            "--disclose",
            "age_over_18",
            "--out",
            world / "r.cbor",
        )[0]
        == 2
    )
    with pytest.raises(SystemExit) as info:
        main(["verify", "mdoc"])
    assert info.value.code == 2


def test_issue_with_bad_data_exits_1(world, capsys):
    data = proof_of_age_data()
    data["uk.gov.dvla.age.1"]["portrait"] = base64.b64encode(b"GIF89a").decode()
    (world / "bad.json").write_text(json.dumps(data))
    code, _, err = run(
        capsys,
        "issue",
        "mdoc",
        "--doctype",
        DOCTYPE_AGE,
        "--data",
        world / "bad.json",
        "--pki",
        world / "pki",
        "--device-key",
        world / "phone.pem",
        "--out",
        world / "x.cbor",
    )
    assert code == 1 and json.loads(err)["error"]["code"] == "invalid_element"
    (world / "notjson.json").write_text("{")
    assert (
        run(
            capsys,
            "issue",
            "mdoc",
            "--doctype",
            DOCTYPE_AGE,
            "--data",
            world / "notjson.json",
            "--pki",
            world / "pki",
            "--device-key",
            world / "phone.pem",
            "--out",
            world / "x.cbor",
        )[0]
        == 2
    )


def test_console_script_entry_point(tmp_path):
    """The installed ``didlib`` command runs (through the module, as the console script does)."""
    proc = subprocess.run(
        [sys.executable, "-m", "didlib.cli", "keygen", str(tmp_path / "k.pem"), "--type", "Ed25519"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
