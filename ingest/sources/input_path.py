"""What a local input path is before anything reads it: a regular file or a folder we may read.

One place refuses what would hang or mislead a reader: a FIFO (opening it waits for a
writer forever), a device such as /dev/zero (endless bytes), a socket, a path that does not
exist, and a file or folder the process may not read. `os_error` turns an OSError met later
(a file inside a folder that cannot be read, a warehouse that cannot be written) into the
same kind of one-line message.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from models.errors import FinopsError, InputError, WarehouseError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a path is, as a message says it ("a regular file", "a named pipe (FIFO)")."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a folder" if stat.S_ISDIR(mode) else "a regular file"


def check_input(path: Path, display: str | None = None) -> None:
    """Raise one InputError unless `path` is a regular file or folder this process can read."""
    shown = display or str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(
            "no such file or folder",
            file=shown,
            expected="an export file or folder",
            found="nothing at that path",
            hint="check the path",
        ) from None
    except OSError as exc:
        raise os_error(exc, shown) from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise InputError(
            "not a regular file or folder",
            file=shown,
            expected="an export file or a folder of them",
            found=kind_of(mode),
            hint="copy the export to a file first; a pipe or device is never read",
        )
    try:
        if stat.S_ISDIR(mode):
            with os.scandir(path):
                pass
        else:
            with path.open("rb"):
                pass
    except OSError as exc:
        raise os_error(exc, shown) from None


_DENIED = {errno.EACCES, errno.EPERM}
_READ_ONLY = {errno.EROFS}


def os_error(
    exc: OSError,
    display: str | None = None,
    warehouse: Path | None = None,
    writing: bool = True,
) -> FinopsError:
    """One message for an OSError: a WarehouseError when it is about the warehouse folder
    (`writing` says whether it was being written or only read), else an InputError naming
    the file."""
    name = exc.filename if isinstance(exc.filename, str) else None
    shown = display or name
    reason = exc.strerror or type(exc).__name__
    if warehouse is not None and not isinstance(warehouse, Path) and name is None:
        # object storage (ingest/warehouse/location.py): its client's error names no file
        from models.urls import redact

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return WarehouseError(
            "the warehouse's object storage cannot be used",
            file=str(warehouse),
            found=redact(first),
            hint="check the bucket, the endpoint (AWS_ENDPOINT_URL) and the credentials the "
            "provider's default chain finds; nothing was changed",
            retryable=True,
        )
    if warehouse is not None and name is not None and _inside(Path(name), warehouse):
        verb = "write" if writing else "read"
        return WarehouseError(
            f"cannot {verb} the warehouse"
            if exc.errno in _DENIED | _READ_ONLY
            else "the warehouse cannot be used",
            file=str(warehouse),
            location=None if Path(name) == warehouse else f"at {name}",
            expected=f"a folder this user can {'read and write' if writing else 'read'}",
            found=reason.lower(),
            hint=(
                f"run as the warehouse's owner, or give it {verb} access (or point "
                "--warehouse elsewhere); nothing was changed"
                if exc.errno in _DENIED | _READ_ONLY
                else "check the disk and the folder; nothing was changed"
            ),
        )
    if exc.errno in _DENIED:
        return InputError(
            "permission denied",
            file=shown,
            expected="a file or folder this user can read",
            found=f"reading refused by the system ({errno.errorcode.get(exc.errno, exc.errno)})",
            hint="give the user running finops read access, or copy the export where it can",
        )
    return InputError(
        "cannot be read",
        file=shown,
        expected="a readable export file or folder",
        found=reason.lower(),
        hint="check the path and the disk",
    )


def _inside(path: Path, root: Path) -> bool:
    if not isinstance(root, Path):  # object storage holds no local file
        return False
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
