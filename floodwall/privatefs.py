"""Files only their owner can read: every file Floodwall creates is 0600, every directory 0700.

Spool segments carry customer ids, the local stack's state holds passwords and its logs echo events, so
nothing Floodwall writes is readable by other local users. Files are *created* with their final mode
(``os.open`` with a mode, which the process umask can only narrow), never chmod-ed after a window in which
another user could have opened them. The process umask is not touched here: it is process-wide, and a
library changing it would race with its host application's threads. Child processes get
:data:`CHILD_UMASK` instead (``subprocess.Popen(umask=...)`` applies it in the child only).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
CHILD_UMASK = 0o077
_GROUP_OTHER = 0o077


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700; existing directories keep their mode.

    Returns ``path``. Raises OSError when a directory cannot be created.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created concurrently: fine
            os.mkdir(directory, DIR_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of ``path`` (created if missing) that leaves it 0600, also when it existed wider.

    An existing file from an older release may be 0644: it is narrowed through the open descriptor.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & _GROUP_OTHER:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def append_private(path: Path) -> BinaryIO:
    """``path`` opened for appending in binary mode, 0600 (created with its parents if missing)."""
    make_private_dir(path.parent)
    return os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "ab")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``: written to a 0600 temporary file, renamed over it.

    A reader (Prometheus, another ``floodwall`` command) never sees a half-written file.
    """
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def tighten_tree(root: Path, exact: Mapping[Path, int] | None = None) -> list[Path]:
    """Remove the group and other permission bits of ``root`` and of everything below it.

    For state written by an older release (0644 files, 0755 directories). Directories named in ``exact``
    get exactly the mode given instead (e.g. 0710 for one that another OS user must traverse). Symbolic
    links are neither followed nor changed; entries vanishing meanwhile (a live process rotating its
    files) are skipped. Returns the paths whose mode changed.
    """
    wanted = {Path(p): m for p, m in (exact or {}).items()}
    changed: list[Path] = []

    def fix(path: Path) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            return
        mode = stat.S_IMODE(info.st_mode)
        target = wanted.get(path, mode & ~_GROUP_OTHER)
        if target != mode:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, target)
                changed.append(path)

    fix(root)
    for top, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            fix(Path(top) / name)
    return changed


def exposed(root: Path, allowed: Mapping[Path, int] | None = None) -> list[str]:
    """Every file under ``root`` that group or others can read or write, and every directory they can
    enter or list, as ``"mode path"`` lines; directories in ``allowed`` may have exactly that mode.

    Symbolic links are skipped (their mode means nothing). Used by the security tests and by
    ``floodwall stack status``-style checks.
    """
    grant = {Path(p): m for p, m in (allowed or {}).items()}
    found: list[str] = []
    for top, dirs, files in os.walk(root):
        for path in [Path(top)] if Path(top) == root else []:
            found += _exposure(path, grant)
        for name in [*dirs, *files]:
            found += _exposure(Path(top) / name, grant)
    return found


def _exposure(path: Path, grant: Mapping[Path, int]) -> list[str]:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return []
    if stat.S_ISLNK(info.st_mode):
        return []
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _GROUP_OTHER or grant.get(path) == mode:
        return []
    return [f"{mode:04o} {path}"]
