"""The fast CSV shape scan proves exactly what the line-by-line check would accept.

`csv_shape.scan` lets `detect.check_rows` skip its Python pass over every record. It must
never prove a file that pass refuses (a cut, short or long record, an open quote, a NUL, bad
UTF-8), and it must prove the clean exports readers see every day, or nothing is gained.
Damaged files come from seeded mutations of a real sample export, scanned in chunks small
enough that records, quotes and CRLFs straddle chunk boundaries.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from ingest.sources import csv_shape
from ingest.sources.detect import check_rows
from models.errors import InputError

SAMPLE = sorted(Path("sample_data/azure").rglob("part_0_0001.csv"))[0]
INVENTORY = Path("sample_data/onprem/inventory.csv")


def slow_accepts(path: Path, final_newline: bool, trailing_optional: bool = False) -> bool:
    """What check_rows' own pass says of the file."""
    from ingest.sources.detect import _check_rows_slowly

    try:
        _check_rows_slowly(path, path.name, final_newline, trailing_optional)
    except InputError:
        return False
    return True


@pytest.fixture(params=[7, 64, 4 << 20], ids=["chunk7", "chunk64", "chunk4MiB"])
def chunk(request, monkeypatch) -> int:
    monkeypatch.setattr(csv_shape, "CHUNK", request.param)
    return request.param


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


CLEAN = {
    "quoted JSON with escaped quotes": b'a,b,c\n1,"{""k"":""v,w""}",3\n4,"",6\n',
    "CRLF line ends": b"a,b,c\r\n1,2,3\r\n4,5,6\r\n",
    "a line break inside quotes": b'a,b\n"x\ny",2\n"p\r\nq",3\n',
    "blank lines": b"a,b\n1,2\n\n3,4\n\r\n5,6\n",
    "UTF-8 and a byte-order mark": "\ufeffa,b\nM\u00fcnchen,\u20ac\n".encode(),
    "no final line break (whole last line)": b"a,b\n1,2\n3,4",
}


@pytest.mark.parametrize("data", CLEAN.values(), ids=CLEAN.keys())
def test_clean_files_are_proven(tmp_path, chunk, data):
    path = write(tmp_path, data)
    assert slow_accepts(path, final_newline=False)
    shape = csv_shape.scan(path, final_newline=False)
    assert shape.proven
    assert shape.sha256 == hashlib.sha256(data).hexdigest()


def test_the_azure_sample_export_is_proven_and_hashed(chunk):
    shape = csv_shape.scan(SAMPLE, final_newline=False)
    assert shape.proven
    assert shape.sha256 == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()


FAULTY = {
    "a short record": (b"a,b,c\n1,2,3\n4,5\n7,8,9\n", True),
    "a long record": (b"a,b,c\n1,2,3\n4,5,6,7\n", True),
    "a quote left open": (b'a,b\n1,"2\n3,4\n', True),
    "a NUL byte": (b"a,b\n1,2\x00\n", True),
    "a control character": (b"a,b\n1,\x12\n", True),
    "bytes that are not UTF-8": (b"a,b\n1,\xff\xfe\n", True),
    "a cut last line": (b"a,b,c\n1,2,3\n4,5", False),
    "a last line without a break where one is required": (b"a,b\n1,2\n3,4", True),
    "text after a closing quote": (b'a,b\n"1"x,2\n', True),
    "a header with no line break": (b"a,b,c", False),
}


@pytest.mark.parametrize("data,final_newline", FAULTY.values(), ids=FAULTY.keys())
def test_faults_are_not_proven(tmp_path, chunk, data, final_newline):
    path = write(tmp_path, data)
    assert not slow_accepts(path, final_newline)
    assert not csv_shape.scan(path, final_newline).proven
    with pytest.raises(InputError):
        check_rows(path, path.name, final_newline=final_newline)


def test_trailing_optional_columns(tmp_path, chunk):
    """koku's layout: every row leaves out the same trailing header column."""
    good = write(tmp_path, b"a,b,c\n1,2\n3,4\n")
    assert csv_shape.scan(good, trailing_optional=True).proven
    bad = write(tmp_path, b"a,b,c\n1,2\n3,4,5\n", "bad.csv")
    assert not csv_shape.scan(bad, trailing_optional=True).proven
    assert not slow_accepts(bad, True, trailing_optional=True)


def mutate(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    kind = rng.randrange(5)
    if kind == 0:
        return data[:at]  # cut
    if kind == 1:
        return data[:at] + data[at + 1 :]  # a byte lost
    if kind == 2:
        return data[:at] + rng.choice([b'"', b",", b"\n", b"\r", b"\x00", b"\xc3"]) + data[at:]
    if kind == 3:
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]  # a byte flipped
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + lines[i + 1 :] + [lines[i]])  # a line moved to the end


@pytest.mark.parametrize("final_newline", [True, False])
def test_never_proves_what_the_line_check_refuses(tmp_path, final_newline):
    """Seeded damage to real exports: a proven file is always one the slow pass accepts."""
    sources = [SAMPLE.read_bytes()[:6000], INVENTORY.read_bytes()]
    rng = random.Random(21)
    proven = 0
    for case in range(250):
        data = mutate(rng.choice(sources), rng)
        path = write(tmp_path, data, f"m{case}.csv")
        for size in (5, 97):
            csv_shape.CHUNK = size
            try:
                shape = csv_shape.scan(path, final_newline)
            finally:
                csv_shape.CHUNK = 4 << 20
            if shape.proven:
                proven += 1
                assert slow_accepts(path, final_newline), (case, size, data[-200:])
        path.unlink()
    assert proven > 60  # the damage often leaves a well-formed file: those must pass fast
