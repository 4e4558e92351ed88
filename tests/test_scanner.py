"""The frame-to-verdict path shared by the apps and ``didlib check --video``: real video files (OpenCV writes
them here, from codes didlib draws, with blur and sensor noise), decoded frame by frame."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import NOW
from didlib import TrustStore
from didlib.errors import DecodeError, NoCamera
from didlib.presentation import make_oneway
from didlib.qr import codes_for, decode_luminance
from didlib.scanner import Frame, Scanner, VideoSource, camera_spec, scan_video, write_code_video
from didlib.verifier import AgePolicy, TrustData, VerifierEngine

pytest.importorskip("cv2")


@pytest.fixture
def engine(pki):
    trust = TrustStore([pki.certificate("iaca")], [pki.certificate("ds")])
    return VerifierEngine(AgePolicy(18), TrustData(trust), clock=lambda: NOW + dt.timedelta(seconds=5))


@pytest.fixture
def two_part_video(tmp_path, age_credential, device_key):
    codes = codes_for(make_oneway(age_credential, device_key, now=NOW))
    assert len(codes) == 2, "the proof of age with its portrait takes two codes"
    return write_code_video(codes, tmp_path / "till.avi")


def test_a_blurred_noisy_two_part_video_reaches_the_verdict(two_part_video, engine):
    source = VideoSource(two_part_video)
    assert (source.read().width, source.read().height) == (1280, 720)
    source = VideoSource(str(two_part_video))
    verdict = scan_video(source, engine, source.fps)
    assert verdict is not None and verdict.decision == "accept" and verdict.headline == "OVER 18"
    assert engine.stats() == {"checks": 1, "accept": 1}, "each code is fed once, not once per frame"


def test_the_same_video_again_is_a_replay(two_part_video, engine):
    assert scan_video(VideoSource(two_part_video), engine).decision == "accept"
    again = scan_video(VideoSource(two_part_video), engine)
    assert again.decision == "reject" and again.reasons == ["this code was already used"]


def test_an_untrusted_issuer_in_a_video_is_refused(two_part_video, tmp_path):
    from didlib.pkidir import PkiDir

    other = PkiDir.create(tmp_path / "other", issuer="Elsewhere", now=NOW - dt.timedelta(days=30))
    engine = VerifierEngine(AgePolicy(18), TrustData(TrustStore([other.certificate("iaca")])), clock=lambda: NOW)
    verdict = scan_video(VideoSource(two_part_video), engine)
    assert verdict.decision == "reject" and verdict.codes == ["unknown_document_signer"]


def test_half_a_code_set_gives_no_verdict(tmp_path, age_credential, device_key, engine):
    first = codes_for(make_oneway(age_credential, device_key, now=NOW))[:1]
    video = write_code_video(first, tmp_path / "half.avi", rounds=1)
    assert scan_video(VideoSource(video), engine) is None
    assert list(engine.progress().values()) == [(1, 2)]


def test_a_looping_file_never_runs_out(tmp_path, age_credential, device_key):
    video = write_code_video(codes_for(make_oneway(age_credential, device_key, now=NOW)), tmp_path / "v.avi",
                             frames_per_code=2, rounds=1)
    source = VideoSource(video, loop=True)
    assert all(source.read() is not None for _ in range(10))
    once = VideoSource(video)
    assert len(list(once.frames())) == 4 and once.read() is None


def test_scanner_reports_a_code_once_while_it_stays_in_view(tmp_path, age_credential, device_key):
    video = write_code_video(codes_for(make_oneway(age_credential, device_key, now=NOW))[:1], tmp_path / "v.avi",
                             frames_per_code=3, rounds=1)
    frames = list(VideoSource(video).frames())
    scanner = Scanner(forget_after=2.0)
    assert [len(scanner.scan(f, now=i * 0.1)) for i, f in enumerate(frames)] == [1, 0, 0]
    assert len(scanner.scan(frames[0], now=10.0)) == 1, "out of view long enough: a new appearance"
    scanner.reset()
    assert len(scanner.scan(frames[0], now=10.1)) == 1
    blank = Frame(bytes(64 * 48), 64, 48)
    assert scanner.scan(blank) == []
    assert scanner.scan(Frame(b"short", 64, 48)) == [], "a broken frame is skipped, not fatal"


def test_bad_sources_and_frames_are_typed_errors(tmp_path):
    with pytest.raises(NoCamera):
        VideoSource(tmp_path / "missing.mp4")
    (tmp_path / "junk.avi").write_bytes(b"not a video at all")
    with pytest.raises(NoCamera):
        VideoSource(tmp_path / "junk.avi")
    with pytest.raises(DecodeError):
        decode_luminance(b"\0" * 10, 4, 4)
    assert camera_spec("0") == 0 and camera_spec(" 2") == 2 and camera_spec("till.mp4") == "till.mp4"
