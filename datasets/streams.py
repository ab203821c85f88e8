"""Reading uploads with a size cap enforced while reading, never after buffering all of it."""

from __future__ import annotations

CHUNK = 1 << 20


class TooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"larger than the limit of {limit:,} bytes")
        self.limit = limit


def read_capped(source, max_bytes: int) -> bytes:
    """Bytes of `source` (bytes, an object with .chunks() like Django's UploadedFile,
    or one with .read(n)); raises TooLarge as soon as more than max_bytes arrive."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise TooLarge(max_bytes)
        return data
    if hasattr(source, "chunks"):
        chunks = source.chunks()
    elif hasattr(source, "read"):
        chunks = iter(lambda: source.read(CHUNK), b"")
    else:
        raise TypeError(f"cannot read {type(source).__name__}: give bytes or a file object")
    parts, total = [], 0
    for chunk in chunks:
        if isinstance(chunk, str):
            raise TypeError("the file was opened in text mode; open it in binary mode")
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(max_bytes)
        parts.append(chunk)
    return b"".join(parts)


class NotUtf8(Exception):
    def __init__(self, line: int, offset: int):
        super().__init__(f"is not UTF-8 text (first bad byte at offset {offset}); save it as UTF-8")
        self.line = line
        self.offset = offset


def decode_utf8(data: bytes) -> str:
    """UTF-8 text without a leading byte-order mark (spreadsheets add one)."""
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + skip
        raise NotUtf8(data.count(b"\n", 0, offset) + 1, offset) from None
