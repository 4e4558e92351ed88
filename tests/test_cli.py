"""The didlib command: the documented contract, exit codes and JSON shape."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from didlib.cli import main
from didlib.mdoc import DOCTYPE_AGE, DOCTYPE_MDL
from didlib.pkidir import PkiDir
from didlib.samples import mdl_data, proof_of_age_data
from didlib.status import StatusList, StatusListToken
from didlib.verifier.state import Counts

PRESENT = "present mdoc {w}/cred.cbor --device-key {w}/phone.pem --transcript {w}/t.cbor --out {w}/resp.cbor"
VERIFY = "verify mdoc {w}/resp.cbor --trust {w}/pki/iaca.pem --transcript {w}/t.cbor"
ISSUE = "issue mdoc --pki {w}/pki --device-key {w}/phone.pem --out {w}/cred.cbor"


def run(capsys, command: str, world=None) -> tuple[int, dict | None, str]:
    """Run one command line ({w} stands for the test's folder); exit code, JSON output, standard error."""
    try:
        code = main(command.format(w=world).split())
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def world(tmp_path, capsys):
    for command in ("pki init {w}/pki", "keygen {w}/phone.pem",
                    "transcript new --out {w}/t.cbor --reader-key-out {w}/reader.pem"):
        assert run(capsys, command, tmp_path)[0] == 0
    (tmp_path / "licence.json").write_text(json.dumps(mdl_data()))
    code, out, _ = run(capsys, ISSUE + f" --doctype {DOCTYPE_MDL} --data {{w}}/licence.json", tmp_path)
    assert code == 0 and out["docType"] == DOCTYPE_MDL
    return tmp_path


def test_pki_init_writes_the_documented_files(world):
    names = {p.name for p in (world / "pki").iterdir()}
    assert names == {"iaca.pem", "iaca.key", "ds.pem", "ds.key", "reader-ca.pem", "reader-ca.key", "reader.pem",
                     "reader.key"}
    assert (world / "pki" / "ds.key").stat().st_mode & 0o077 == 0


def test_pki_init_refuses_to_overwrite(world, capsys):
    code, _, err = run(capsys, "pki init {w}/pki", world)
    assert code == 2 and "refusing" in err


@pytest.mark.parametrize("mac", [False, True])
def test_present_and_verify(world, capsys, mac):
    assert run(capsys, PRESENT + " --disclose age_over_18,portrait" + (" --mac" if mac else ""), world)[0] == 0
    code, out, _ = run(capsys, VERIFY + (" --reader-key {w}/reader.pem" if mac else ""), world)
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
    run(capsys, PRESENT + " --disclose age_over_18", world)
    assert run(capsys, "transcript new --out {w}/t2.cbor", world)[0] == 0
    code, out, _ = run(capsys, VERIFY.replace("t.cbor", "t2.cbor"), world)
    assert code == 1 and out["valid"] is False
    assert out["errors"][0]["code"] == "device_auth_failed"
    code, out, _ = run(capsys, VERIFY + " --now 2099-01-01T00:00:00Z", world)
    assert code == 1 and {e["code"] for e in out["errors"]} >= {"mso_expired", "certificate_expired"}
    (world / "resp.cbor").write_bytes(b"\x00\x01junk")
    code, out, _ = run(capsys, VERIFY, world)
    assert code == 1 and out["errors"][0]["code"] == "malformed"


@pytest.mark.parametrize(
    "command",
    [
        VERIFY.replace("resp.cbor", "missing.cbor"),  # no such file
        VERIFY.replace("iaca.pem", "ds.pem"),  # a leaf is not a trust anchor
        VERIFY + " --now yesterday",
        PRESENT.replace("cred.cbor", "t.cbor") + " --disclose x",  # not a credential
        PRESENT.replace("phone.pem", "t.cbor") + " --disclose x",  # not a key
        PRESENT.replace("--transcript {w}/t.cbor", "--transcript {w}/cred.cbor") + " --disclose x",
        PRESENT + " --disclose shoe_size",  # no such element
        "verify mdoc",
    ],
)
def test_usage_errors_exit_2(world, capsys, command):
    assert run(capsys, command, world)[0] == 2


def test_issue_with_bad_data_exits_1(world, capsys):
    data = proof_of_age_data()
    data["uk.gov.dvla.age.1"]["portrait"] = base64.b64encode(b"GIF89a").decode()
    (world / "bad.json").write_text(json.dumps(data))
    code, _, err = run(capsys, ISSUE + f" --doctype {DOCTYPE_AGE} --data {{w}}/bad.json", world)
    assert code == 1 and json.loads(err)["error"]["code"] == "invalid_element"
    (world / "notjson.json").write_text("{")
    assert run(capsys, ISSUE + f" --doctype {DOCTYPE_AGE} --data {{w}}/notjson.json", world)[0] == 2


def test_console_script_entry_point(tmp_path):
    """The ``didlib`` command runs as a process (through the module the console script points at)."""
    proc = subprocess.run([sys.executable, "-m", "didlib.cli", "keygen", str(tmp_path / "k.pem"), "--type",
                           "Ed25519"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()


# ------------------------------------------------------------------------------------- SD-JWT and status
@pytest.fixture
def sd_world(world, capsys):
    from didlib.samples import flat_claims

    (world / "claims.json").write_text(json.dumps(flat_claims(proof_of_age_data())))
    vct = "urn:uk:gov:dvla:vct:proof-of-age:1"
    code, out, _ = run(capsys, f"issue sd-jwt --vct {vct} --data {{w}}/claims.json --pki {{w}}/pki "
                               "--holder-key {w}/phone.pem --out {w}/cred.txt --status-uri https://s.example/1 "
                               "--status-idx 5", world)
    assert code == 0 and out["vct"] == vct
    code, _, _ = run(capsys, "present sd-jwt {w}/cred.txt --holder-key {w}/phone.pem --disclose age_over_18 "
                             "--nonce n1 --aud https://shop.example --out {w}/pres.txt", world)
    assert code == 0
    return world


SD_VERIFY = "verify sd-jwt {w}/pres.txt --trust {w}/pki/iaca.pem --nonce n1 --aud https://shop.example"


def test_sd_jwt_issue_present_verify(sd_world, capsys):
    code, out, _ = run(capsys, SD_VERIFY, sd_world)
    assert code == 0 and out["valid"] is True
    assert out["vct"] == "urn:uk:gov:dvla:vct:proof-of-age:1" and out["issuer"] == "DVLA IACA"
    assert out["claims"]["age_over_18"] is True and "portrait" not in out["claims"]
    assert out["status"] is None and out["errors"] == []
    code, out, _ = run(capsys, SD_VERIFY.replace("n1", "n2"), sd_world)
    assert code == 1 and out["errors"][0]["code"] == "kb_nonce_mismatch"


def test_status_commands_and_revocation(sd_world, capsys):
    code, out, _ = run(capsys, "status encode --bits 2 --values 0,1,2,0,0,1,0", sd_world)
    assert code == 0 and out["bits"] == 2
    code, decoded, _ = run(capsys, f"status decode --bits 2 {out['lst']}", sd_world)
    assert decoded == {"bits": 2, "size": 8, "nonZero": {"1": 1, "2": 2, "5": 1}}
    assert run(capsys, "status decode --bits 1 %%%", sd_world)[0] == 2

    pki = PkiDir(sd_world / "pki")
    revoked = StatusList(16)
    revoked.set(5, 1)
    token = StatusListToken.create_jwt("https://s.example/1", revoked, pki.key("ds"), chain=[pki.certificate("ds")])
    (sd_world / "list.jwt").write_text(token)
    code, out, _ = run(capsys, SD_VERIFY + " --status-token {w}/list.jwt", sd_world)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["status_invalid"]
    assert out["status"]["state"] == "invalid" and out["status"]["index"] == 5
    # with an issuer key and no trust store the list cannot be checked: unknown, never revoked
    code, out, _ = run(capsys, "verify sd-jwt {w}/pres.txt --issuer-key {w}/pki/ds.pem --nonce n1 "
                               "--aud https://shop.example --status-token {w}/list.jwt", sd_world)
    assert code == 0 and out["status"]["state"] == "unknown"


# ------------------------------------------------------------------------------------ QR till (check)
@pytest.fixture
def till_world(world, capsys):
    data = proof_of_age_data()
    (world / "age.json").write_text(json.dumps(data))
    assert run(capsys, ISSUE.replace("cred.cbor", "age.cbor") + " --doctype uk.gov.dvla.age.1 --data {w}/age.json",
               world)[0] == 0
    code, out, _ = run(capsys, "present qr {w}/age.cbor --device-key {w}/phone.pem --out {w}/qr.png", world)
    assert code == 0 and out["level"] in ("L", "M")
    return world, out["files"]


CHECK = "check --policy age:18 --trust {w}/pki/iaca.pem --trust {w}/pki/ds.pem --state {w}/state"


def test_check_accepts_then_refuses_the_replay(till_world, capsys):
    world, files = till_world
    code, out, _ = run(capsys, CHECK + " " + " ".join(files), world)
    assert code == 0 and out["verdict"] == "accept" and out["headline"] == "OVER 18"
    assert set(out["display"]) == {"over_18", "portrait"}
    code, out, _ = run(capsys, CHECK + " " + " ".join(reversed(files)), world)
    assert code == 1 and out["reasons"] == ["this code was already used"]
    assert Counts(world / "state" / "verifier.sqlite").read() == {"checks": 2, "accept": 1, "reject": 1}
    assert b"MORGAN" not in (world / "state" / "verifier.sqlite").read_bytes()


def test_check_with_a_signed_trust_list(till_world, capsys):
    world, files = till_world
    assert run(capsys, "keygen {w}/operator.pem", world)[0] == 0
    assert run(capsys, "trustlist create --pki {w}/pki --operator-key {w}/operator.pem --out {w}/tl.jwt", world)[0] == 0
    code, out, _ = run(capsys, "check --policy age:18 --trust {w}/tl.jwt --operator {w}/operator.pem "
                               + " ".join(files), world)
    assert code == 0 and out["verdict"] == "accept" and out["dataAgeSeconds"]["trustList"] is not None
    assert run(capsys, "check --policy age:18 --trust {w}/tl.jwt --operator {w}/phone.pem " + " ".join(files),
               world)[0] == 2, "a trust list signed by someone else is refused"
    assert run(capsys, "check --policy age:18 --trust {w}/tl.jwt " + " ".join(files), world)[0] == 2


def test_check_usage_errors(till_world, capsys):
    world, files = till_world
    assert run(capsys, CHECK + " --camera", world)[0] == 2
    assert run(capsys, CHECK, world)[0] == 2
    assert run(capsys, CHECK + " {w}/pki/iaca.pem", world)[0] == 2  # not an image
    assert run(capsys, CHECK.replace("age:18", "age:19") + " " + files[0], world)[0] == 2
    if len(files) > 1:
        assert run(capsys, CHECK + " " + files[0], world)[0] == 2  # incomplete set
    code, out, _ = run(capsys, CHECK + " --payload hello", world)
    assert code == 1 and out["verdict"] == "reject"


@pytest.mark.parametrize("size", [(100_000, 400), (400, 70_000), (20_000, 20_000)])
def test_check_refuses_odd_images_as_usage_errors(tmp_path, capsys, size):
    """Issue 14 item 14: a 100000 x 400 PNG raised an unhandled ValueError from the QR decoder."""
    from PIL import Image

    Image.new("1", size, 1).save(tmp_path / "odd.png")
    code, _, err = run(capsys, "check --policy age:18 --trust {w}/none.pem {w}/odd.png", tmp_path)
    assert code == 2 and "too large" in err


def test_check_video_prints_the_verdict(till_world, capsys):
    """The till command reads a video's frames through the scanner the apps use (didlib.scanner)."""
    pytest.importorskip("cv2")
    from didlib.qr import decode_image
    from didlib.scanner import write_code_video

    world, files = till_world
    codes = [text for file in files for text in decode_image(file)]
    write_code_video(codes, world / "till.avi")
    code, out, _ = run(capsys, CHECK + " --video {w}/till.avi", world)
    assert code == 0 and out["verdict"] == "accept" and out["headline"] == "OVER 18"
    code, out, _ = run(capsys, CHECK + " --video {w}/till.avi", world)
    assert code == 1 and out["reasons"] == ["this code was already used"]
    write_code_video(codes[:1], world / "half.avi", rounds=1)
    code, _, err = run(capsys, CHECK + " --video {w}/half.avi", world)
    if len(codes) > 1:
        assert code == 2 and "incomplete" in err
    assert run(capsys, CHECK + " --video {w}/missing.avi", world)[0] == 2
    (world / "junk.avi").write_bytes(b"junk")
    code, _, err = run(capsys, CHECK + " --video {w}/junk.avi", world)
    assert code == 2 and "no_camera" in err


VP_REQUEST = "vp request --pki {w}/pki --host shop.example --out {w}/req.jwt --state {w}/state.json"
VP_ANSWER = ("vp answer {w}/req.jwt --reader-trust {w}/pki/reader-ca.pem --mdoc {w}/cred.cbor "
             "--device-key {w}/phone.pem --out {w}/form.json")
VP_CHECK = "vp check {w}/form.json --state {w}/state.json --trust {w}/pki/iaca.pem"


@pytest.mark.parametrize("plain", ["", " --plain"])
def test_vp_request_answer_check(world, capsys, plain):
    code, out, _ = run(capsys, VP_REQUEST + plain, world)
    assert code == 0 and out["link"].startswith("openid4vp://?client_id=x509_san_dns%3Ashop.example")
    assert out["response_mode"] == ("direct_post" if plain else "direct_post.jwt")
    assert (world / "state.json").stat().st_mode & 0o077 == 0, "the saved request holds a private key"
    code, out, _ = run(capsys, VP_ANSWER, world)
    assert code == 0 and out == {"client_id": "x509_san_dns:shop.example", "reader": "Example Shop",
                                 "claims": ["age_over_18"]}
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 0 and out["valid"] and out["claims"] == {"age_over_18": True}
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["replayed"]


def test_vp_usage_and_refusals(world, capsys):
    assert run(capsys, VP_REQUEST, world)[0] == 0
    code, _, err = run(capsys, VP_ANSWER.replace(" --device-key {w}/phone.pem", ""), world)
    assert code == 2 and "--device-key" in err
    code, _, err = run(capsys, VP_ANSWER.replace("pki/reader-ca.pem", "pki/iaca.pem"), world)
    assert code == 1 and "not signed by a trusted verifier" in err
    (world / "form.json").write_text("[]")
    assert run(capsys, VP_CHECK, world)[0] == 2
    (world / "state.json").write_text("{}")
    assert run(capsys, VP_CHECK, world)[0] == 2
    assert run(capsys, VP_REQUEST, world)[0] == 0
    saved = json.loads((world / "state.json").read_text())
    for broken in ({"created": "2026-06-01T12:00:00"}, {"answered": "no"}, {"nonce": 7}, {"response_mode": "query"}):
        (world / "state.json").write_text(json.dumps(saved | broken))
        code, _, err = run(capsys, VP_CHECK, world)
        assert code == 2 and "saved presentation request" in err, broken


VP_DC_REQUEST = VP_REQUEST.replace("req.jwt", "options.json") + " --dc-api --origin https://shop.example"
VP_DC_ANSWER = VP_ANSWER.replace("req.jwt", "options.json") + " --origin {origin}"


@pytest.mark.parametrize("plain", ["", " --plain"])
def test_vp_over_the_digital_credentials_api(world, capsys, plain):
    """Issue 18 item 5: the navigator.credentials.get options, the wallet's answer for the calling origin and the
    check of the DigitalCredential; an answer made for another origin is refused, a replay too."""
    code, out, _ = run(capsys, VP_DC_REQUEST + plain, world)
    assert code == 0 and out == {"origin": "https://shop.example", "client_id": "x509_san_dns:shop.example",
                                 "protocols": ["openid4vp-v1-signed", "openid4vp-v1-unsigned", "org-iso-mdoc"],
                                 "response_mode": "dc_api" if plain else "dc_api.jwt"}
    options = json.loads((world / "options.json").read_text())
    assert [r["protocol"] for r in options["digital"]["requests"]] == out["protocols"]
    code, _, err = run(capsys, VP_DC_ANSWER.format(origin="https://evil.example", w="{w}"), world)
    assert code == 1 and "another website" in err, "the signed request names only the shop's origin"
    unsigned = {"digital": {"requests": options["digital"]["requests"][1:2]}}
    (world / "options.json").write_text(json.dumps(unsigned))
    code, out, _ = run(capsys, VP_DC_ANSWER.format(origin="https://evil.example", w="{w}"), world)
    assert code == 0 and out["client_id"] == "origin:https://evil.example" and out["reader"] == "https://evil.example"
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["device_auth_failed"]
    (world / "options.json").write_text(json.dumps(options))
    code, out, _ = run(capsys, VP_DC_ANSWER.format(origin="https://shop.example", w="{w}"), world)
    assert code == 0 and out["reader"] == "Example Shop (https://shop.example)"
    data = json.loads((world / "form.json").read_text())
    assert set(data) == {"vp_token"} if plain else {"response"}
    (world / "form.json").write_text(json.dumps({"protocol": "openid4vp-v1-signed", "data": data}))
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 0 and out["valid"] and out["claims"] == {"age_over_18": True}
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["replayed"]
    code, _, err = run(capsys, VP_DC_REQUEST.replace("https://shop.example", "shop.example"), world)
    assert code == 2 and "origin" in err
    code, _, err = run(capsys, VP_DC_REQUEST.replace(" --origin https://shop.example", ""), world)
    assert code == 2 and "--origin" in err


def test_vp_org_iso_mdoc(world, capsys):
    """ISO/IEC 18013-7 Annex C from the command line: the options offer org-iso-mdoc, the wallet answers it for the
    calling origin (a browser that allows only that protocol, as Safari), and vp check opens and verifies it once;
    the same request read at another origin is refused (its readerAuth signs the shop's origin)."""
    assert run(capsys, VP_DC_REQUEST, world)[0] == 0
    options = json.loads((world / "options.json").read_text())
    requests = options["digital"]["requests"]
    mdoc_only = {"digital": {"requests": [r for r in requests if r["protocol"] == "org-iso-mdoc"]}}
    (world / "options.json").write_text(json.dumps(mdoc_only))
    code, _, err = run(capsys, VP_DC_ANSWER.format(origin="https://evil.example", w="{w}"), world)
    assert code == 1 and "reader" in err.lower()
    code, out, _ = run(capsys, VP_DC_ANSWER.format(origin="https://shop.example", w="{w}"), world)
    assert code == 0 and out["reader"] == "Example Shop (https://shop.example)" and out["claims"] == ["age_over_18"]
    data = json.loads((world / "form.json").read_text())
    assert set(data) == {"response"} and "." not in data["response"]
    (world / "form.json").write_text(json.dumps({"protocol": "org-iso-mdoc", "data": data}))
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 0 and out["valid"] and out["claims"] == {"age_over_18": True}
    code, out, _ = run(capsys, VP_CHECK, world)
    assert code == 1 and [e["code"] for e in out["errors"]] == ["replayed"]


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``didlib ... | head``: when the reader has gone, no traceback, only the SIGPIPE exit status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "didlib.cli", "pki", "init", str(tmp_path / "pki")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert err == b""
    assert (tmp_path / "pki" / "iaca.pem").exists(), "the work itself was done"
