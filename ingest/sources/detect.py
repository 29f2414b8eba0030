"""What a source file is: container from magic bytes, columns from its header, format from columns.

Shared by every source reader. Each check raises one InputError naming the file and the
problem (empty, truncated, not UTF-8, duplicate columns, unknown format), so a reader can
call them in order and only ever see files it can read.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import shutil
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from ingest.sources import csv_shape
from models.errors import InputError

PARQUET, CSV, CSV_GZ, JSON = "parquet", "csv", "csv.gz", "json"
DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".pq")
_HEADER_LIMIT = 4 << 20  # a header line longer than this is not a billing export


@dataclass(frozen=True)
class Sniffed:
    path: Path
    display: str  # what to call the file in messages (its path or URI)
    container: str  # parquet | csv | csv.gz | json
    columns: tuple[str, ...]


def is_data_file(path: Path) -> bool:
    """A file a folder listing should read: data extensions only (READMEs etc. are skipped)."""
    name = path.name.lower()
    return not name.startswith((".", "_")) and name.endswith(DATA_SUFFIXES)


def container(path: Path, display: str) -> str:
    """The container by magic bytes (extensions lie); raises for empty and unknown files."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if not head.strip():
        raise InputError(
            "empty file",
            file=display,
            expected="a billing export with a header row and data rows",
            found=f"{path.stat().st_size} bytes",
            hint="the export may still be uploading; fetch it again",
        )
    if head[:4] == b"PAR1":
        return PARQUET
    if head[:2] == b"\x1f\x8b":
        return CSV_GZ
    if head.lstrip()[:1] in (b"{", b"["):
        return JSON
    check_not_utf16(head, display)
    if _CONTROL_BYTES.search(head) or head[:4] == b"PK\x03\x04":
        raise unknown_format(display, "binary data that is not Parquet or gzip")
    return CSV


def check_not_utf16(head: bytes, display: str) -> None:
    """UTF-16 text (Excel's "Unicode Text", PowerShell's default) read as UTF-8 is a NUL beside
    every character: say what the file is, rather than call it binary or damaged."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        found = "a UTF-16 byte-order mark"
    elif len(head) >= 8 and any(
        nul.count(0) * 5 >= len(nul) * 4 and text.count(0) * 5 <= len(text)
        for nul, text in ((head[0::2], head[1::2]), (head[1::2], head[0::2]))
    ):  # one byte of each pair NUL, the other a character: zeros alone are binary
        found = "UTF-16 text (a NUL byte beside every character)"
    else:
        return
    raise InputError(
        "text is UTF-16, not UTF-8",
        file=display,
        location="line 1",
        expected="UTF-8 text",
        found=found,
        hint="save or export the file as UTF-8 (in Excel: CSV UTF-8) and load it again",
    )


def check_text_encoding(path: Path, display: str) -> None:
    """check_not_utf16 on the start of a text file, gzip-compressed or not."""
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as fh:
            head = fh.read(512)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise bad_gzip(display, exc) from None
    check_not_utf16(head, display)


def unknown_format(display: str, found: str) -> InputError:
    return InputError(
        "not a format this reader knows",
        file=display,
        expected="CSV, CSV.gz or Parquet billing export",
        found=found,
        hint="pass the export's data files (or its folder / manifest)",
    )


def gunzip(path: Path, dest: Path, display: str) -> Path:
    """Decompress to `dest` in chunks (never the whole file in memory); detects truncation."""
    try:
        with gzip.open(path, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        dest.unlink(missing_ok=True)
        raise bad_gzip(display, exc) from None
    return dest


def parquet_columns(path: Path, display: str) -> tuple[str, ...]:
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for cut or damaged files
        raise InputError(
            "truncated or corrupt Parquet file",
            file=display,
            expected="a Parquet file ending in its footer and PAR1",
            found=f"{path.stat().st_size} bytes whose footer cannot be read ({plain_reason(exc)})",
            hint="the download or upload was cut short; fetch the file again",
        ) from None
    return tuple(schema.names)


def plain_reason(exc: BaseException) -> str:
    """A library's one-line reason without its exception class names (`TProtocolException:
    Invalid data` reads as a crash, not as a description of the file)."""
    text = str(exc).splitlines()[0] if str(exc).strip() else "unreadable"
    return _CLASS_NAME.sub("", text).strip()[:200]


_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception):\s*")


def csv_columns(path: Path, display: str) -> tuple[str, ...]:
    """The header row of an (uncompressed) CSV, decoded strictly as UTF-8."""
    with path.open("rb") as fh:
        line = fh.readline(_HEADER_LIMIT + 1)
    if len(line) > _HEADER_LIMIT:
        raise header_too_long(display)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(display, 1, exc) from None
    try:
        row = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise csv_fault(display, 1, 1, exc) from None
    names = tuple(n.strip() for n in row)
    if not any(names):
        raise InputError("no header row", file=display, expected="column names on line 1")
    return names


def check_utf8(path: Path, display: str) -> None:
    """Stream the file through a strict UTF-8 decoder; reports the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines = 1
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _not_utf8(display, lines + chunk[: exc.start].count(b"\n"), exc) from None
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _not_utf8(display, lines, exc) from None


def header_too_long(display: str) -> InputError:
    return InputError(
        "header line too long",
        file=display,
        location="line 1",
        expected=f"column names on a first line of at most {_HEADER_LIMIT >> 20} MiB",
        found=f"more than {_HEADER_LIMIT >> 20} MiB before the first line break",
        hint="this is not a billing export, or its first line is damaged; download it again",
    )


def csv_fault(display: str, start: int, line: int, exc: csv.Error) -> InputError:
    """One message for what Python's csv reader refuses: a record starting on line `start`
    that the reader gave up on at line `line`."""
    said = str(exc)
    if "field larger than field limit" in said:
        if start <= 1:
            return header_too_long(display)
        limit = csv.field_size_limit()
        return InputError(
            "a field is too long",
            file=display,
            location=f"line {start}",
            expected=f"fields of at most {limit:,} characters",
            found=f"a field of more than {limit:,} characters",
            hint="the file is damaged (a quote left open swallows the lines after it?); "
            "download it again",
        )
    if "new-line character seen in unquoted field" in said:
        return InputError(
            "a line break inside an unquoted field",
            file=display,
            location=f"line {line}",
            expected="a carriage return only at the end of a line, or inside quotes",
            found="a carriage return followed by more text",
            hint="the file is damaged or is not a CSV export; download it again",
        )
    if "unexpected end of data" in said and start < line:
        return InputError(
            "a quoted field never closes",
            file=display,
            location=f"line {start}",
            expected='a closing " for the quote opened on this line',
            found=f"no closing quote up to the end of the file (line {line})",
            hint="a stray quote or a truncated file; fix the quote or download the file again",
        )
    if "unexpected end of data" in said:
        return InputError(TRUNCATED, file=display, location=f"line {line}", found=said)
    return InputError(
        "a stray quote in a field",
        file=display,
        location=f"line {line}",
        expected='a quote only around a whole field, doubled ("") inside one',
        found=said,
        hint="the file is damaged or was edited; fix the quote or download the file again",
    )


def _not_utf8(display: str, line: int, exc: UnicodeDecodeError) -> InputError:
    bad = exc.object[exc.start : exc.start + 4]
    return InputError(
        "text is not UTF-8",
        file=display,
        location=f"line {line}",
        expected="UTF-8 text",
        found=f"bytes {bad!r}",
        hint="re-export as UTF-8 (billing exports are UTF-8; the file may be damaged)",
    )


def check_unique(columns: tuple[str, ...], display: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(columns):
        if name in seen:
            raise InputError(
                "duplicate column name",
                file=display,
                location=f"column {name!r}",
                expected="each column name once",
                found=f"{name!r} at positions {seen[name] + 1} and {i + 1}",
                hint="the header was edited or two exports were concatenated",
            )
        seen[name] = i


def sniff(path: Path, display: str, work: Path) -> Sniffed:
    """Container and columns of one data file; gzip is decompressed into `work` first."""
    kind = container(path, display)
    if kind == PARQUET:
        columns = parquet_columns(path, display)
        check_unique(columns, display)
        return Sniffed(path, display, PARQUET, columns)
    if kind == JSON:
        raise unknown_format(display, "JSON (a manifest? pass its folder or the manifest itself)")
    if kind == CSV_GZ:
        work.mkdir(parents=True, exist_ok=True)
        plain = gunzip(path, work / (path.name.removesuffix(".gz") + f".{id(path)}.csv"), display)
        if plain.stat().st_size == 0:
            raise InputError("empty file (gzip of nothing)", file=display)
        path = plain
    check_text_encoding(path, display)
    check_utf8(path, display)
    columns = csv_columns(path, display)
    check_unique(columns, display)
    check_rows(path, display, trailing_optional=True)
    return Sniffed(path, display, kind, columns)


def identify(
    sniffed: Sniffed, formats: Mapping[str, Callable[[frozenset[str]], bool]], expected: str
) -> str:
    """The name of the first format whose test accepts the file's columns."""
    names = frozenset(sniffed.columns)
    for name, test in formats.items():
        if test(names):
            return name
    shown = ", ".join(sniffed.columns[:6]) + (" ..." if len(sniffed.columns) > 6 else "")
    raise InputError(
        "columns do not match any known export format",
        file=sniffed.display,
        expected=expected,
        found=f"{sniffed.container} with columns {shown}",
        hint="a required column may be missing, or this is not a billing export",
    )


def columns_found(columns: list[str]) -> str:
    """What a file missing required columns has: how many, and the first few names."""
    shown = ", ".join(columns[:4]) + (", ..." if len(columns) > 4 else "")
    return f"{len(columns)} column{'s' if len(columns) != 1 else ''} ({shown})"


TRUNCATED = "the file ends in the middle of a line — it may be truncated; download it again"


def check_rows(
    path: Path, display: str, final_newline: bool = True, trailing_optional: bool = False
) -> str | None:
    """Every record has the same number of fields and no NUL byte, and the file ends with a
    newline: a file cut short must not load as a smaller month (its own totals would agree
    with it). polars pads a short row with nulls silently, so this reads the file itself,
    streamed (gzip decompressed to its end), and names the line of the first fault.

    `final_newline=False` is for files whose writers may leave the last newline out (Azure's
    cost details, hand-made invoices and inventories): there a last line without it passes
    when it has all its fields, and is refused as cut when it has fewer.
    `trailing_optional=True` lets every row leave out the same trailing header columns (koku's
    sample CUR has 131 names and 130 fields a row; readers see nulls): the first data row
    then sets the width the others must have.

    A file `csv_shape.scan` proves well formed is not read again line by line (the slow
    pass runs only to name a fault); returns the SHA-256 of a plain file's bytes when that
    scan read them, else None."""
    check_text_encoding(path, display)
    shape = csv_shape.scan(path, final_newline, trailing_optional)
    if shape.proven:
        return shape.sha256
    _check_rows_slowly(path, display, final_newline, trailing_optional)
    return None


def _check_rows_slowly(
    path: Path, display: str, final_newline: bool, trailing_optional: bool
) -> None:
    """check_rows' own pass: every record through Python's csv module, the first fault named."""
    last = [""]

    def lines(fh: Iterable[str]) -> Iterator[str]:
        for text in fh:
            last[0] = text
            yield text

    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    start = 1  # the line the record being read starts on
    reader = None
    try:
        with (
            gzip.open(path, "rt", encoding="utf-8-sig", newline="")
            if gz
            else path.open(encoding="utf-8-sig", newline="")
        ) as fh:
            reader = csv.reader(lines(fh), strict=True)
            header = next(reader, None)
            if header is None:
                return
            _check_text(display, reader.line_num, None, header)
            if not last[0].endswith(("\n", "\r")):  # the header is all there is, cut or not
                raise InputError(
                    TRUNCATED,
                    file=display,
                    location="line 1",
                    expected="a header line ending in a line break, then data rows",
                    found=f"{len(header)} column names and no line break",
                )
            width: tuple[int, int] | None = None if trailing_optional else (len(header), 1)
            start = reader.line_num + 1
            for row in reader:
                start = reader.line_num + 1  # where the next record begins
                if not row:
                    continue  # a blank line is skipped by every reader
                _check_text(display, reader.line_num, header, row)
                if not last[0].endswith(("\n", "\r")) and (
                    final_newline or len(row) < (width or (len(header), 0))[0]
                ):
                    raise _truncated(display, reader.line_num, len(row), len(header))
                if width is None and len(row) <= len(header):
                    width = (len(row), reader.line_num)
                if width is None or len(row) != width[0]:
                    raise _ragged(display, reader.line_num, len(row), len(header), width)
    except csv.Error as exc:  # a quote left open, a stray quote, a field without end
        line = reader.line_num if reader is not None else 1
        raise csv_fault(display, start, max(line, start), exc) from None
    except UnicodeDecodeError as exc:  # binary data, or text in another encoding
        if not gz:
            check_utf8(path, display)  # names the line of the first bad byte
        raise _not_utf8(display, (reader.line_num if reader else 0) + 1, exc) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise bad_gzip(display, exc) from None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # never in text; tab, CR, LF are
_CONTROL_BYTES = re.compile(_CONTROL.pattern.encode())


def _check_text(display: str, line: int, header: list[str] | None, row: list[str]) -> None:
    """Refuse a record holding a NUL or another control character: binary data, or a file
    damaged on disk or in transfer (a NUL ends a C string: readers would cut the value)."""
    if not _CONTROL.search("".join(row)):
        return
    for i, value in enumerate(row):
        hit = _CONTROL.search(value)
        if hit is None:
            continue
        name = header[i].strip() if header is not None and i < len(header) else None
        nul = hit.group() == "\x00"
        raise InputError(
            "NUL byte in a field" if nul else "binary data in a text file",
            file=display,
            location=f"line {line}, " + (f"column {name}" if name else f"field {i + 1}"),
            expected="text",
            found=repr(value[:40])
            if nul
            else f"control character {hit.group()!r} in {value[:40]!r}",
            hint="the file is damaged (a disk or transfer fault) or is not a CSV export; "
            "download it again",
        )


def bad_gzip(display: str, exc: Exception) -> InputError:
    """A gzip stream that ends early or does not decompress: one message wherever it is read."""
    return InputError(
        "truncated or corrupt gzip file",
        file=display,
        expected="a complete gzip stream",
        found=str(exc),
        hint="the download or upload was cut short; fetch the file again",
    )


def _truncated(display: str, line: int, fields: int, width: int) -> InputError:
    return InputError(
        TRUNCATED,
        file=display,
        location=f"line {line}",
        expected=f"{width} fields and a newline",
        found=f"{fields} field{'s' if fields != 1 else ''} and no newline",
    )


def _ragged(
    display: str, line: int, fields: int, names: int, first: tuple[int, int] | None
) -> InputError:
    width, line1 = first or (names, 1)
    said = "as in the header" if line1 == 1 else f"as on line {line1}"
    return InputError(
        f"{'too few' if fields < width else 'too many'} fields on a line",
        file=display,
        location=f"line {line}",
        expected=f"{width} fields, {said}",
        found=f"{fields} field{'s' if fields != 1 else ''}",
        hint="the file is damaged or was edited (an unquoted comma?); download it again",
    )
