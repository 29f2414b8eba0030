"""Proving a CSV file well formed at memory speed, so the line-by-line check runs only on a fault.

`detect.check_rows` names the line of the first fault a CSV reader would trip on (a short or
long record, a quote left open, a NUL or control character, bytes that are not UTF-8, a cut
last line), reading every record through Python's csv module: ~100k lines/s, the slowest part
of reading a large export. `scan` proves the same file free of those faults with vectorised
byte arithmetic over bounded chunks (numpy): quotes, commas and line breaks are located, the
quoted spans follow from the parity of the quotes, and each record's field count from its
commas less those inside its quoted fields (a field's escaped "" quotes join its spans).
It is deliberately strict: anything it cannot prove in that model (a quote inside an
unquoted field, a lone carriage return, an open quote at the end) sends the file to
`check_rows`' own pass, which names the fault or accepts the file as before. So the rules
stay defined once, there; this only skips the pass when it cannot fail.

The same read hashes the file's bytes, so a reader need not read it again for its SHA-256.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 4 << 20  # bytes scanned at a time: memory follows this, not the file
QUOTE, COMMA, LF, CR = 34, 44, 10, 13


@dataclass(frozen=True)
class Scan:
    proven: bool  # every record well formed; False: let the line-by-line pass decide
    sha256: str | None  # of the file's bytes, when the scan read all of them


@dataclass
class _State:
    trailing_optional: bool
    quoted: bool = False  # inside a quoted field at the chunk's start
    prev: int = LF  # the byte before the chunk (a line break before the file)
    close_pending: bool = False  # the chunk before ended on a closing quote
    cr_pending: bool = False  # the chunk before ended on a CR outside quotes
    commas: int = 0  # commas outside quotes in the record being read
    length: int = 0  # bytes (CR excluded) of the record being read
    records: int = 0  # records ended so far (the header included)
    header: int = 0  # fields of the header
    width: int | None = None  # fields every data record must have


def scan(path: Path, final_newline: bool = True, trailing_optional: bool = False) -> Scan:
    """Read `path` once, proving its records well formed; hashes a plain file's bytes.

    `final_newline` and `trailing_optional` mean what they mean to `detect.check_rows`. A
    gzip file is scanned decompressed (its digest is not taken: that is of the stored bytes).
    """
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    digest = None if gz else hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    state = _State(trailing_optional)
    proven = True
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                if digest is not None:
                    digest.update(chunk)
                if proven:
                    b = np.frombuffer(chunk, np.uint8)
                    proven = _text(chunk, b, decoder) and _records(b, state, b"\r" in chunk)
                elif digest is None:
                    break  # nothing more to learn
        decoder.decode(b"", final=True)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return Scan(False, None)
    proven = proven and _ends_well(state, final_newline)
    return Scan(proven, digest.hexdigest() if digest is not None else None)


def _text(chunk: bytes, b: np.ndarray, decoder: codecs.IncrementalDecoder) -> bool:
    """UTF-8 (across chunk boundaries) without NUL or other control characters."""
    if not chunk.isascii():
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            return False
    # every byte below 32 is a tab, CR or LF (counted by numpy: bytes.translate is slower)
    low = np.count_nonzero(b < 32)
    allowed = sum(np.count_nonzero(b == c) for c in (9, CR) if bytes((c,)) in chunk)
    return low == allowed + np.count_nonzero(b == LF)


def _ends_well(s: _State, final_newline: bool) -> bool:
    """The file ends outside quotes, and a last record without a line break is whole."""
    if s.quoted or s.cr_pending or s.records == 0:
        return False
    if s.length == 0 and s.commas == 0:
        return True  # ended with a line break
    if final_newline:
        return False
    return _width_ok(s, np.array([s.commas + 1]))


def _width_ok(s: _State, fields: np.ndarray) -> bool:
    """Every non-blank data record has the width the header (or the first record) sets."""
    if not len(fields):
        return True
    if s.width is None:
        first = int(fields[0])
        if first > s.header:
            return False
        s.width = first if s.trailing_optional else s.header
    return bool((fields == s.width).all())


def _records(b: np.ndarray, s: _State, has_cr: bool = True) -> bool:
    """Advance `s` over one chunk; False when a record cannot be proven well formed."""
    n = len(b)
    # Quotes and line breaks are located; commas are only counted, per record and per quoted
    # span (a comma is a tenth of the bytes: their positions cost more than the rest).
    quotes = np.flatnonzero(b == QUOTE)
    # Quotes alternate: the k-th of the chunk opens a quoted span when k (plus one if the
    # chunk starts inside a span) is even, else closes it. An opening quote must start a
    # field (or follow the closing quote of an escaped ""); a closing one must end the field
    # or be the first half of "".
    first_opens = 0 if s.quoted else 1  # index parity of the opening quotes
    opens, closes = quotes[1 - first_opens :: 2], quotes[first_opens::2]
    if s.close_pending and b[0] not in (COMMA, CR, LF, QUOTE):
        return False
    if len(opens):
        before = b[np.maximum(opens - 1, 0)]
        if opens[0] == 0:
            before[0] = s.prev
        if not _among(before, (COMMA, LF, QUOTE)):
            return False
    inner = closes[closes < n - 1]
    if len(inner) and not _among(b[inner + 1], (COMMA, CR, LF, QUOTE)):
        return False
    s.close_pending = bool(len(closes) and closes[-1] == n - 1)
    # A byte is inside a quoted span when an odd number of quotes come before it in the
    # chunk (even, when the chunk starts inside one).
    inside = 1 if s.quoted else 0
    breaks = np.flatnonzero(b == LF)
    breaks = breaks[((np.searchsorted(quotes, breaks) + inside) & 1) == 0]
    crs = np.flatnonzero(b == CR) if has_cr else breaks[:0]
    crs = crs[((np.searchsorted(quotes, crs) + inside) & 1) == 0]
    # A CR outside quotes must start a CRLF (the csv module ends a record at a lone CR too:
    # not modelled here).
    if s.cr_pending and b[0] != LF:
        return False
    if len(crs) and not (b[crs[crs < n - 1] + 1] == LF).all():
        return False
    s.cr_pending = bool(len(crs) and crs[-1] == n - 1)
    outside = _outside_commas(b, quotes, inside, breaks)
    if len(breaks):
        # commas and bytes (CRs excluded) of each record that ends in this chunk
        per = outside[:-1]
        per[0] += s.commas
        starts = np.concatenate(([0], breaks[:-1] + 1))
        lengths = breaks - starts
        if len(crs):
            lengths -= np.searchsorted(crs, breaks) - np.searchsorted(crs, starts)
        lengths[0] += s.length
        if s.records == 0:
            s.header = int(per[0]) + 1
            per, lengths = per[1:], lengths[1:]
        if not _width_ok(s, per[lengths > 0] + 1):  # a blank line is skipped by every reader
            return False
        s.records += len(breaks)
        last = int(breaks[-1])
        s.commas = int(outside[-1])
        s.length = (n - last - 1) - int(len(crs) - np.searchsorted(crs, last))
    else:
        s.commas += int(outside[0])
        s.length += n - len(crs)
    s.quoted = (len(quotes) + inside) % 2 == 1
    s.prev = int(b[-1])
    return True


def _outside_commas(b: np.ndarray, quotes: np.ndarray, inside: int, breaks: np.ndarray):
    """Commas outside quotes in each record ending at `breaks` (line breaks outside quotes),
    then after the last break: the record's commas less those in its quoted spans."""
    n = len(b)
    commas = np.flatnonzero(b == COMMA)
    per = np.diff(np.searchsorted(commas, breaks), prepend=0, append=len(commas))
    # quoted spans: from an opening quote (or the chunk's start, when it starts inside one)
    # to the next quote (or the chunk's end); an escaped "" joins two spans into one, so a
    # quoted field is one span however many quotes it holds
    bounds = np.concatenate((np.zeros(inside, dtype=np.int64), quotes, [n, n]))
    ends = bounds[1::2]
    starts = bounds[0::2][: len(ends)]
    if len(bounds) % 2 == 0:  # every span closed: the appended (n, n) is no span
        starts, ends = starts[:-1], ends[:-1]
    if len(starts):
        joined = starts[1:] == ends[:-1] + 1
        starts = starts[np.concatenate(([True], ~joined))]
        ends = ends[np.concatenate((~joined, [True]))]
        within = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
        record = np.searchsorted(breaks, starts)  # the record each span is in
        per -= np.bincount(record, weights=within, minlength=len(per)).astype(np.int64)
    return per


def _among(values: np.ndarray, allowed: tuple[int, ...]) -> bool:
    ok = np.zeros(len(values), dtype=bool)
    for v in allowed:
        ok |= values == v
    return bool(ok.all())
