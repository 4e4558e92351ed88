"""CBOR decoding limits, exact tag-24 bytes and deterministic output."""

from __future__ import annotations

import datetime as dt
import hashlib

import cbor2
import pytest

from didlib.cbor import Embedded, Limits, decode, encode, full_date, tdate
from didlib.errors import DecodeError, LimitExceeded


def test_tag24_keeps_non_preferred_header_bytes():
    # 59 0003 is a non-preferred length header for a 3-byte bstr; digests must cover it as sent.
    raw = bytes.fromhex("d818590003a10102")
    value = decode(raw)
    assert isinstance(value, Embedded)
    assert value.raw == raw
    assert value.content == bytes.fromhex("a10102")
    assert value.decode() == {1: 2}
    assert encode([value]) == b"\x81" + raw, "an embedded item is written back exactly"
    assert hashlib.sha256(value.raw).digest() != hashlib.sha256(Embedded.wrap({1: 2}).raw).digest()


def test_nested_embedded_items_in_document_order():
    data = encode([Embedded.wrap("a"), {"k": Embedded.wrap([Embedded.wrap(1)])}, Embedded.wrap(b"x")])
    first, middle, last = decode(data)
    assert first.decode() == "a"
    inner = middle["k"].decode()
    assert inner[0].decode() == 1
    assert last.decode() == b"x"


@pytest.mark.parametrize(
    ("hex_data", "code"),
    [
        ("", "malformed"),
        ("0102", "malformed"),  # trailing bytes
        ("9bffffffffffffffff", "malformed"),  # array longer than the input
        ("5bffffffffffffffff", "malformed"),  # byte string longer than the input
        ("1c", "malformed"),  # reserved additional information
        ("ff", "malformed"),  # lone break
        ("d81801", "malformed"),  # tag 24 around a non-bstr
        ("a2010101ff", "malformed"),
        ("a201010102", "malformed"),  # duplicate map key
        ("6180", "malformed"),  # invalid UTF-8
        ("c0617a", "malformed"),  # bad tdate text
        ("9f01", "malformed"),  # indefinite array without break
    ],
)
def test_malformed_input_is_a_decode_error(hex_data, code):
    with pytest.raises(DecodeError) as info:
        decode(bytes.fromhex(hex_data))
    assert info.value.code == code


def test_size_limit():
    with pytest.raises(LimitExceeded):
        decode(encode(b"x" * 100), Limits(max_size=50))


def test_depth_limit():
    deep = b"\x81" * 40 + b"\x00"
    with pytest.raises(LimitExceeded):
        decode(deep, Limits(max_depth=32))
    assert decode(b"\x81" * 5 + b"\x00", Limits(max_depth=8)) == [[[[[0]]]]]


def test_tag_nesting_counts_towards_depth():
    with pytest.raises(LimitExceeded):
        decode(b"\xc6" * 40 + b"\x00", Limits(max_depth=32))


def test_item_limit():
    data = encode(list(range(200)))
    with pytest.raises(LimitExceeded):
        decode(data, Limits(max_items=100))
    assert len(decode(data, Limits(max_items=201))) == 200


def test_indefinite_lengths_accepted():
    assert decode(bytes.fromhex("9f0102ff")) == [1, 2]
    assert decode(bytes.fromhex("5f41014102ff")) == b"\x01\x02"


def test_not_bytes():
    with pytest.raises(DecodeError):
        decode("text")  # type: ignore[arg-type]


def test_encoding_keeps_key_order_and_uses_preferred_heads():
    assert encode({"b": 1, "a": 2, 10: 0}) == bytes.fromhex("a3616201616102" + "0a00")
    assert encode(2**16) == bytes.fromhex("1a00010000")
    assert encode(b"x" * 24)[:2] == bytes.fromhex("5818")


def test_dates():
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert encode(tdate(moment)) == cbor2.dumps(cbor2.CBORTag(0, "2024-05-06T06:08:09Z"))
    assert encode(full_date(dt.date(2019, 10, 20))) == bytes.fromhex("d903ec6a323031392d31302d3230")
    assert encode(dt.date(2019, 10, 20)) == bytes.fromhex("d903ec6a323031392d31302d3230")
    with pytest.raises(ValueError):
        tdate(dt.datetime(2024, 1, 1))


def test_unencodable_value():
    with pytest.raises(DecodeError) as info:
        encode(object())
    assert info.value.code == "unencodable"


def test_exact_spans_when_the_input_is_not_in_preferred_form():
    """Indefinite lengths elsewhere force the span scan; the embedded bytes must still be exact."""
    item = bytes.fromhex("d81843a10102")
    data = b"\x9f" + item + b"\x1a\x00\x00\x00\x01" + item + b"\xff"  # non-preferred uint too
    first, one, second = decode(data)
    assert one == 1
    assert first.raw == item and second.raw == item


def test_long_input_is_scanned_against_the_item_limit():
    data = encode([Embedded.wrap(b"x" * 300)])
    value = decode(data, Limits(max_items=100))  # longer than max_items bytes: the scanner counts items
    assert value[0].decode() == b"x" * 300


def test_a_non_preferred_item_is_kept_as_sent_when_its_preferred_form_occurs_earlier():
    """The preferred bytes of the item sit inside an earlier byte string: the item itself (non-preferred
    head) must still come back exactly as sent, not as the look-alike found elsewhere in the input."""
    preferred = bytes.fromhex("d81843a10102")
    sent = bytes.fromhex("d9001843a10102")  # tag 24 with a 2-byte argument
    data = b"\x82" + encode(preferred) + sent
    decoy, item = decode(data)
    assert decoy == preferred
    assert item.raw == sent


_ARGUMENT_SIZES = {1: 1, 2: 2, 3: 4, 4: 8}


def _long_head(major: int, argument: int, form: int) -> bytes:
    """A head whose argument takes 1, 2, 4 or 8 bytes (``form`` 1..4), more than preferred serialization."""
    return bytes((major << 5 | (23 + form),)) + argument.to_bytes(_ARGUMENT_SIZES[form], "big")


def _preferred_head(major: int, argument: int) -> bytes:
    encoded = cbor2.dumps(argument)  # an unsigned integer's head is the preferred head of any major type
    return bytes((major << 5 | encoded[0] & 0x1F,)) + encoded[1:]


@pytest.mark.parametrize("tag_form", [0, 2, 3, 4])
@pytest.mark.parametrize("bstr_form", [0, 1, 2, 3, 4, "indefinite"])
def test_every_tag24_head_form_is_kept_exactly(tag_form, bstr_form):
    """Each item of an array of tag-24 items, in every head form, decodes to exactly its bytes; whatever
    the form of one, the others (preferred) are exact too."""
    content = encode({"k": b"v" * 30})
    tag_head = _preferred_head(6, 24) if tag_form == 0 else _long_head(6, 24, tag_form)
    if bstr_form == "indefinite":
        chunks = (content[:5], content[5:])
        body = b"\x5f" + b"".join(_preferred_head(2, len(chunk)) + chunk for chunk in chunks) + b"\xff"
    elif bstr_form == 0:
        body = _preferred_head(2, len(content)) + content
    else:
        body = _long_head(2, len(content), bstr_form) + content
    odd = tag_head + body
    plain = Embedded.from_content(content).raw
    data = b"\x83" + plain + odd + plain
    first, middle, last = decode(data)
    assert (first.raw, middle.raw, last.raw) == (plain, odd, plain)
    assert middle.content == content and middle.decode() == {"k": b"v" * 30}


def test_one_byte_inputs_decode_as_they_do_inside_an_array():
    """A single byte takes a short way (no stream): every one of the 256 decodes to what the same byte does
    as the element of an array, or fails with the same error class."""
    for byte in range(256):
        data = bytes((byte,))
        try:
            alone = ("ok", decode(data))
        except DecodeError as exc:
            alone = (type(exc).__name__, exc.code)
        try:
            inside = ("ok", decode(b"\x81" + data)[0])
        except DecodeError as exc:
            inside = (type(exc).__name__, exc.code)
        assert alone == inside, hex(byte)
    with pytest.raises(LimitExceeded):
        decode(b"\xa0", Limits(max_items=0))


_LOOKALIKE = b"\x00\x18"  # ends every long tag-24 head; random bytes (a portrait) often hold it


def _reads_one_byte_at_a_time(monkeypatch, data: bytes) -> bool:
    """Whether decoding ``data`` took the tracked pass (cbor2 reading one byte at a time)."""
    sizes: list[int] = []
    real = cbor2.CBORDecoder

    def spy(*args, **kwargs):
        sizes.append(kwargs.get("read_size", 4096))
        return real(*args, **kwargs)

    monkeypatch.setattr(cbor2, "CBORDecoder", spy)
    decode(data)
    monkeypatch.setattr(cbor2, "CBORDecoder", real)
    return 1 in sizes


def test_bytes_that_only_look_like_the_end_of_a_long_tag24_head_take_the_untracked_pass(monkeypatch):
    """``00 18`` inside a byte string is no tag 24: the item decodes with read-ahead, as any without one."""
    data = encode({"digestID": 1, "random": b"\x01" + _LOOKALIKE + b"\x02", "elementValue": b"\xff\xd8\xff"})
    assert not _reads_one_byte_at_a_time(monkeypatch, data)
    assert decode(data)["random"] == b"\x01\x00\x18\x02"


@pytest.mark.parametrize(
    ("head", "tracked"), [("d818", True), ("d90018", False), ("da00000018", False), ("db0000000000000018", False)]
)
def test_every_tag24_head_form_is_kept_as_received(monkeypatch, head, tracked):
    """The preferred head takes the tracked pass; a longer one goes from the untracked pass to the scanner,
    without a tracked pass that could only hand it on."""
    data = bytes.fromhex(head) + bytes.fromhex("43a10102")
    assert _reads_one_byte_at_a_time(monkeypatch, data) == tracked
    assert decode(data).raw == data


@pytest.mark.parametrize(
    "hex_data",
    [
        "a2" + "41" + "00" + "420018" + "41" + "00" + "01",  # duplicate key b"\x00" beside a look-alike
        "420018" + "00",  # trailing byte
        "82420018" + "9f",  # truncated
        "81" * 40 + "420018",  # nesting deeper than the limit
    ],
)
def test_the_untracked_pass_refuses_what_the_tracked_one_does(hex_data):
    data = bytes.fromhex(hex_data)
    assert _LOOKALIKE in data
    with pytest.raises(DecodeError):
        decode(data)
