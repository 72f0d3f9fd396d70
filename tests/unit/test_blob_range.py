"""`Range` selection on blob reads: one byte range, the whole blob, or 416 (RFC 9110)."""

from __future__ import annotations

import pytest

from seawall.oci.blobs import ByteRange, select_range
from seawall.oci.errors import ErrorCode, OciError

SIZE = 10


def range_error(header: str, size: int = SIZE) -> OciError:
    with pytest.raises(OciError) as caught:
        select_range(header, size)
    return caught.value


def test_absent_header_serves_whole_blob() -> None:
    assert select_range(None, SIZE) is None


def test_absent_header_on_empty_blob() -> None:
    assert select_range(None, 0) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 10)),
        ("bytes=0-0", ByteRange(0, 1)),
        ("bytes=9-9", ByteRange(9, 10)),
        ("bytes=3-5", ByteRange(3, 6)),
        ("bytes=0-", ByteRange(0, 10)),
        ("bytes=9-", ByteRange(9, 10)),
        ("bytes=-1", ByteRange(9, 10)),
        ("bytes=-10", ByteRange(0, 10)),
        (" bytes=2-4 ", ByteRange(2, 5)),
        ("bytes=007-008", ByteRange(7, 9)),
    ],
)
def test_satisfiable_range_selected(header: str, expected: ByteRange) -> None:
    assert select_range(header, SIZE) == expected


def test_end_past_size_cut_to_end() -> None:
    assert select_range("bytes=5-1000", SIZE) == ByteRange(5, SIZE)


def test_end_with_many_digits_cut_to_end() -> None:
    assert select_range("bytes=0-" + "9" * 25, SIZE) == ByteRange(0, SIZE)


def test_end_with_thousands_of_digits_cut_to_end() -> None:
    # More digits than int() converts by default (4300 in Python 3.11).
    assert select_range("bytes=2-" + "9" * 5000, SIZE) == ByteRange(2, SIZE)


def test_suffix_longer_than_blob_takes_all() -> None:
    assert select_range("bytes=-100", SIZE) == ByteRange(0, SIZE)


def test_suffix_with_many_digits_takes_all() -> None:
    assert select_range("bytes=-" + "9" * 30, SIZE) == ByteRange(0, SIZE)


def test_suffix_on_empty_blob_sends_whole_blob() -> None:
    assert select_range("bytes=-5", 0) is None


def test_unit_name_case_insensitive() -> None:
    assert select_range("BYTES=0-1", SIZE) == ByteRange(0, 2)


def test_range_length() -> None:
    assert ByteRange(3, 6).length == 3


@pytest.mark.parametrize("header", ["items=0-1", "lines=0-", "", "0-1", "bytes 0-1"])
def test_unknown_unit_ignored(header: str) -> None:
    assert select_range(header, SIZE) is None


@pytest.mark.parametrize(
    "header", ["bytes=0-1,3-4", "bytes=0-1, 5-", "bytes=20-30,0-1"]
)
def test_multiple_ranges_ignored(header: str) -> None:
    assert select_range(header, SIZE) is None


@pytest.mark.parametrize(
    "header", ["bytes=10-", "bytes=10-20", "bytes=100-", "bytes=" + "9" * 40 + "-"]
)
def test_start_at_or_past_size_rejected(header: str) -> None:
    assert range_error(header).status == 416


@pytest.mark.parametrize("header", ["bytes=0-0", "bytes=0-"])
def test_any_start_on_empty_blob_rejected(header: str) -> None:
    assert range_error(header, size=0).status == 416


def test_end_before_start_rejected() -> None:
    assert range_error("bytes=5-4").status == 416


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=-000"])
def test_zero_suffix_rejected(header: str) -> None:
    assert range_error(header).status == 416


@pytest.mark.parametrize(
    "header",
    [
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes= 0-1",
        "bytes=0x1-2",
    ],
)
def test_malformed_range_rejected(header: str) -> None:
    assert range_error(header).status == 416


def test_rejection_code_size_invalid() -> None:
    assert range_error("bytes=10-").code is ErrorCode.SIZE_INVALID


def test_rejection_sends_content_range() -> None:
    assert range_error("bytes=10-").headers == {"Content-Range": f"bytes */{SIZE}"}


def test_rejection_detail_has_size() -> None:
    assert range_error("bytes=10-").detail == {"size": SIZE}


def test_rejection_message_names_header() -> None:
    assert "'bytes=10-'" in range_error("bytes=10-").message


def test_rejection_message_cuts_long_header() -> None:
    assert len(range_error("bytes=" + "9" * 5000 + "-").message) < 300
