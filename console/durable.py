"""Low-level pieces of the files the console writes: opening them safely, durable appends.

Every file the console writes (history, journal, lock, postmortem draft,
crash report, backups) is opened through here, so they share one set of
rules: a symbolic link the console did not expect is never followed (a file
of its own is opened with ``O_NOFOLLOW``; a new file is created with
``O_EXCL``, which never follows one), a race with a rename or a removal is
retried a bounded number of times, and an ``OSError`` is reported as one short
reason.  Appends (history, journal) write whole records with ``O_APPEND``
under an ``flock``, fsync the file, and fsync the folder once so a new file
survives a crash.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

#: ``O_NOFOLLOW`` / ``O_CLOEXEC`` where the platform has them (Linux and macOS do).
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How many times an open that races with a rename or a removal is tried before giving up.
OPEN_ATTEMPTS = 5


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``; a write that makes no progress is an I/O error."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry in ``folder`` durable; best effort (some filesystems refuse)."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def os_reason(exc: OSError) -> str:
    """The short human reason of an ``OSError`` ("No space left on device")."""
    return exc.strerror or str(exc) or type(exc).__name__


def _link_error(path: Path) -> OSError:
    """What opening ``path`` without following its symbolic link says, in words."""
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return OSError(
        errno.ELOOP,
        f"it is a symbolic link{target}, which the console does not follow: "
        "remove it if it is not yours",
        str(path),
    )


def open_own(path: Path, flags: int, mode: int = 0o600) -> int:
    """Open a file of the console's own (journal, lock) without following a link at ``path``.

    ``flags`` as for ``os.open``; ``O_NOFOLLOW`` and ``O_CLOEXEC`` are added.
    A symbolic link at ``path`` raises ``OSError(ELOOP)`` whose reason says so.
    """
    try:
        return os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise _link_error(path) from None
        raise


def create_new(path: Path, mode: int = 0o600, flags: int = os.O_WRONLY) -> int:
    """Create ``path`` exclusively: never an existing file, never through a symbolic link.

    ``FileExistsError`` when anything (a file, a link, even a dangling one) is there.
    """
    return open_own(path, flags | os.O_CREAT | os.O_EXCL, mode)


def create_fresh(path: Path, mode: int = 0o600, flags: int = os.O_WRONLY) -> int:
    """Create ``path`` anew in a folder of the console's own, replacing what is there.

    For scratch names only the console uses (``backup.dump.partial``, a
    manifest's ``.tmp``): a leftover of a crashed run, or a link someone put
    there, is removed first (removing a link never touches its target), then
    the file is created exclusively.
    """
    for _ in range(OPEN_ATTEMPTS):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise OSError(errno.EISDIR, "a folder is in the way", str(path)) from None
        try:
            return create_new(path, mode, flags)
        except FileExistsError:
            continue  # created again between the two calls
    raise _kept_changing(path)


def _kept_changing(path: Path) -> OSError:
    return OSError(
        errno.EAGAIN,
        f"it kept being replaced or removed while the console opened it ({OPEN_ATTEMPTS} attempts)",
        str(path),
    )


def open_locked(path: Path, mode: int, *, follow_link: bool = False) -> tuple[int, bool]:
    """An fd on ``path`` for appending, holding its exclusive ``flock``; and whether we made it.

    Opening with ``O_CREAT | O_EXCL`` first tells a file we created from one
    that was there, atomically: two processes racing to create it open the
    same inode and queue on the same lock.  Because an editor may have
    replaced the file (rename) or a failed first append may have removed it
    while we waited, the lock only counts once the path still names the inode
    we locked; otherwise it is tried again, ``OPEN_ATTEMPTS`` times in all.

    A symbolic link at ``path`` is never followed to create a file.  With
    ``follow_link`` (the history file, which the team may keep as a link into
    a shared checkout) a link to an existing file is used; a dangling one is an
    error naming where it points.  Without it (the journal) any link is an
    error.  Errors are ``OSError`` with a reason fit for one line.
    """
    flags = os.O_RDWR | os.O_APPEND | CLOEXEC | (0 if follow_link else NOFOLLOW)
    for _ in range(OPEN_ATTEMPTS):
        created = True
        try:
            fd = _open_checked(path, flags | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            created = False
            try:
                fd = _open_checked(path, flags, mode)
            except FileNotFoundError:
                if os.path.islink(path):  # a link to nothing: O_EXCL saw it, open cannot
                    raise _dangling(path) from None
                continue  # removed between the two opens
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = os.fstat(fd)
            try:
                now = os.stat(path) if follow_link else os.lstat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
            return fd, created
        os.close(fd)  # replaced or removed while we waited: lock the file there now
    raise _kept_changing(path)


def _open_checked(path: Path, flags: int, mode: int) -> int:
    try:
        return os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            if flags & NOFOLLOW:
                raise _link_error(path) from None
            raise OSError(errno.ELOOP, "its symbolic links go round in a loop", str(path)) from None
        raise


def _dangling(path: Path, kind: str = "file") -> OSError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return OSError(
        errno.ENOENT,
        f"it is a symbolic link to {target}, which does not exist: "
        f"create the {kind} it points to, or replace the link with a {kind}",
        str(path),
    )


def regular_file_problem(fd: int) -> str:
    """Why the open file ``fd`` is not a plain file with this one name ("" when it is).

    A lock file is rewritten under the lock, so it must be nothing else: not a
    device or a FIFO, and not a second name (hard link) of some other file.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_nlink != 1:
        return f"it has {st.st_nlink} names (hard links), so it may be another file"
    return ""


def read_own(path: Path) -> bytes:
    """The content of a file of the console's own, not following a link and never blocking.

    A link, a FIFO or a device where a journal should be raises ``OSError``
    instead of hanging the command that reads it or reading someone's file.
    """
    fd = open_own(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_problem(path: Path, *, folder: bool) -> str:
    """Why the console could not write at ``path`` ("" when it can), without changing anything.

    ``folder``: a folder the console creates its files in (the state dir);
    otherwise a file it appends to (the history file).  What does not exist
    yet is judged by the nearest folder above it that does, since the console
    creates the missing folders.  Answers what permissions and read-only
    mounts say; a disk that fills up later is still found when writing.
    """
    if not folder:
        if os.path.islink(path) and not os.path.exists(path):
            return os_reason(_dangling(path))
        if os.path.isdir(path):
            return "it is a folder, not a file"
        if os.path.lexists(path):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | CLOEXEC | os.O_NONBLOCK)
            except OSError as exc:
                return os_reason(exc)
            os.close(fd)
            return ""
        return _folder_problem(path.parent)
    return _folder_problem(path)


def _folder_problem(path: Path) -> str:
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if os.path.islink(probe) and not os.path.exists(probe):
        reason = os_reason(_dangling(probe, "folder"))
        return reason if probe == path else reason.replace("it is", f"{probe} is", 1)
    if not os.path.isdir(probe):
        return f"{probe} is not a folder" if probe != path else "it is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" ({probe}, where it would be created)"
        reason = "read-only file system" if _read_only(probe) else "permission denied"
        return f"{reason}{where}"
    return ""


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False
