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
