"""Just enough of SQLite's write-ahead-log format to tell a damaged log from a clean one.

SQLite reads a WAL up to its first frame that does not verify and silently ignores the rest,
so a truncated or overwritten log loses committed writes without a word; the next write then
starts the log afresh and the loss is permanent. The run store reads the log itself before
SQLite does (https://www.sqlite.org/fileformat2.html#the_write_ahead_log) and names what will
be lost.

A log is a 32-byte header and frames of a 24-byte header plus one page. Each frame carries the
header's two salts and a checksum that runs on from the previous frame's. Frames whose salts
differ from the header's are leftovers of an earlier generation of the log (SQLite writes the
log again from its start after a checkpoint) and are not damage; a frame with the current
salts that does not verify, or a frame cut short, is.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
MAGIC_LITTLE_ENDIAN = 0x377F0682  # checksums over little-endian words
MAGIC_BIG_ENDIAN = 0x377F0683


@dataclass(frozen=True)
class LogDamage:
    """What SQLite will not read from a damaged log."""

    reason: str
    lost_frames: int  # frames of the log's present generation that will be ignored
    lost_commits: int  # of which commit frames (one per transaction), where still readable
    kept_commits: int  # transactions before the damage, which SQLite replays


def _checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    """SQLite's running checksum over 32-bit word pairs (``len(data)`` a multiple of 8)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    mask = 0xFFFFFFFF
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & mask
        s1 = (s1 + words[i + 1] + s0) & mask
    return s0, s1


def inspect_log(path: Path) -> LogDamage | None:
    """The damage in the WAL at ``path``, or None when it is absent, empty or reads whole."""
    try:
        log = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(log) == 0:
        return None
    if len(log) < HEADER_BYTES:
        return LogDamage("its header is cut short", 0, 0, 0)
    magic, _version, page_size, _sequence, salt1, salt2, c0, c1 = struct.unpack(
        ">8I", log[:HEADER_BYTES]
    )
    if magic not in (MAGIC_LITTLE_ENDIAN, MAGIC_BIG_ENDIAN):
        frames = (len(log) - HEADER_BYTES) // (FRAME_HEADER_BYTES + max(page_size, 512))
        return LogDamage("its header is overwritten", frames, 0, 0)
    big_endian = magic == MAGIC_BIG_ENDIAN
    s0, s1 = _checksum(log[:24], 0, 0, big_endian)
    frame_bytes = FRAME_HEADER_BYTES + page_size
    frames = (len(log) - HEADER_BYTES) // frame_bytes
    if (s0, s1) != (c0, c1):
        return LogDamage("its header's checksum does not match", frames, 0, 0)

    kept_commits = 0
    offset = HEADER_BYTES
    while offset + frame_bytes <= len(log):
        header = log[offset : offset + FRAME_HEADER_BYTES]
        page_number, commit_size, frame_salt1, frame_salt2, f0, f1 = struct.unpack(">6I", header)
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break  # the end of this generation (or an overwritten frame: checked below)
        page = log[offset + FRAME_HEADER_BYTES : offset + frame_bytes]
        t0, t1 = _checksum(header[:8] + page, s0, s1, big_endian)
        if (t0, t1) != (f0, f1) or page_number == 0:
            break
        s0, s1 = t0, t1
        kept_commits += commit_size != 0
        offset += frame_bytes

    # Anything of the present generation after the frames that verify is lost.
    rest = [
        struct.unpack(">6I", log[at : at + FRAME_HEADER_BYTES])
        for at in range(offset, len(log) - FRAME_HEADER_BYTES + 1, frame_bytes)
    ]
    current = [frame for frame in rest if frame[2:4] == (salt1, salt2)]
    cut_short = (len(log) - HEADER_BYTES) % frame_bytes != 0
    if not current and not (cut_short and offset + frame_bytes > len(log) > offset):
        return None
    if not current:
        return LogDamage("it ends in the middle of a page", 1, 0, kept_commits)
    lost_commits = sum(frame[1] != 0 for frame in current)
    return LogDamage(
        "a frame does not match its checksum", len(current), lost_commits, kept_commits
    )
