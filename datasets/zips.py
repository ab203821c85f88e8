"""Reading an uploaded zip safely: every member's name, size and ratio checked while extracting.

A zip is untrusted input. Its member names may climb out of a folder (`../`, absolute
paths, drive letters), its declared sizes may lie, and a few kilobytes may inflate to
gigabytes (a decompression bomb). Nothing here writes to disk: members come back as bytes,
and the caps are enforced on the bytes actually inflated, chunk by chunk, so a member that
lies about its size is stopped at the cap, not after.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass

from common.problems import ProblemList, echo

CHUNK = 1 << 16
DEFAULT_MAX_MEMBERS = 200_000
DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3  # inflated, all members together
DEFAULT_MAX_MEMBER_BYTES = 64 * 1024**2
# Images and CSVs compress by 2-10x; a bomb by thousands. 200 leaves room for flat images.
DEFAULT_MAX_RATIO = 200
# A tiny member may compress well without harm: the ratio is judged past this size.
RATIO_FLOOR_BYTES = 64 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = DEFAULT_MAX_MEMBERS
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the zip, '/'-separated, checked safe
    data: bytes


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape the folder it is extracted to, or None when it cannot."""
    if "\x00" in name:
        return "has a NUL character in its name"
    if "\\" in name:
        return "uses '\\' in its path; zips use '/'"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "has '..' in its path, which would leave the extraction folder"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _skipped(name: str) -> bool:
    """Folders and the metadata macOS and Windows add when zipping: not members to read."""
    base = name.rsplit("/", 1)[-1]
    return (
        name.endswith("/")
        or name.startswith("__MACOSX/")
        or base.startswith("._")
        or base
        in (
            ".DS_Store",
            "Thumbs.db",
        )
    )


def read_zip(
    data: bytes, *, label: str, problems: ProblemList, limits: ZipLimits = ZipLimits()
) -> list[Member]:
    """The members of the zip `data` (named `label` in problems), or [] after recording why not.

    Every problem names the member. Extraction stops at the first cap crossed: a bomb is
    never inflated past it.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as e:
        problems.add(f"the file is not a readable zip archive ({e})", file=label)
        return []
    with archive:
        infos = [i for i in archive.infolist() if not _skipped(i.filename)]
        if len(infos) > limits.max_members:
            problems.add(
                f"the zip holds {len(infos):,} files, more than the limit of {limits.max_members:,}",
                file=label,
            )
            return []
        start = problems.total
        for info in infos:
            why = unsafe_name(info.filename)
            if why is None and _is_symlink(info):
                why = "is a symbolic link"
            if why is None and info.flag_bits & 0x1:
                why = "is encrypted"
            if why is not None:
                problems.add(f"{echo(info.filename)} {why}; nothing was extracted", file=label)
        if problems.total > start:
            return []
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            seen: set[str] = set()
            for n in names:
                if n in seen:
                    problems.add(f"{echo(n)} appears twice in the zip", file=label)
                seen.add(n)
            return []
        members: list[Member] = []
        total = 0
        for info in infos:
            out = bytearray()
            try:
                with archive.open(info) as handle:
                    while chunk := handle.read(CHUNK):
                        out += chunk
                        total += len(chunk)
                        why = _over_a_cap(info, len(out), total, limits)
                        if why is not None:
                            problems.add(f"{echo(info.filename)} {why}; extraction stopped", file=label)
                            return []
            except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, ValueError) as e:
                # zlib errors, a wrong CRC, an unsupported compression method.
                problems.add(f"{echo(info.filename)} cannot be extracted: {e}", file=label)
                return []
            members.append(Member(info.filename, bytes(out)))
        return members


def _over_a_cap(info: zipfile.ZipInfo, size: int, total: int, limits: ZipLimits) -> str | None:
    if size > limits.max_member_bytes:
        return f"inflates past the limit of {limits.max_member_bytes:,} bytes per file"
    if total > limits.max_total_bytes:
        return f"brings the inflated total past the limit of {limits.max_total_bytes:,} bytes (a decompression bomb?)"
    if size > RATIO_FLOOR_BYTES and size > limits.max_ratio * max(info.compress_size, 1):
        return (
            f"inflates more than {limits.max_ratio} times its compressed size of {info.compress_size:,} bytes "
            "(a decompression bomb)"
        )
    return None
