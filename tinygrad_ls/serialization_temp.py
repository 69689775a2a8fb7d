"""The temporary files of ``tl.save``: their names, their removal when a signal ends a save,
and the removal of those a killed process left behind.

``save`` writes ``.<file>.<host>-<pid>-<random>.tlsave.tmp`` next to the target and renames it
over the target when complete. The host (a hash of its name) and the process id in the name
tell whether the save that wrote a temporary file can still be running: a file of this host
whose process is gone is stale, and the next ``save`` into that directory removes it.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

_TEMP_SUFFIX = '.tlsave.tmp'
_HOST = f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')):08x}"
_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{12}"
                        + re.escape(_TEMP_SUFFIX) + "$")


def temp_path_for(directory: str, filename: str) -> str:
    """A fresh temporary path for writing ``filename`` in ``directory``."""
    random = uuid.uuid4().hex[:12]
    return os.path.join(directory, f".{filename}.{_HOST}-{os.getpid()}-{random}{_TEMP_SUFFIX}")


def remove_stale_temp_files(directory: str) -> None:
    """Remove the temporary files that ``save`` calls of this machine left in ``directory``
    when their process was killed (their pid no longer runs); files of live processes, of
    other machines (a shared file system) and every other file are left alone."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return  # a missing directory: the write below reports it
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match['host'] != _HOST or int(match['pid']) == os.getpid():
            continue
        try:
            os.kill(int(match['pid']), 0)
            continue  # alive
        except ProcessLookupError:
            pass  # gone: the file is stale
        except (PermissionError, OverflowError, OSError):
            continue  # alive (another user's) or not a pid we can ask about
        try:
            os.remove(entry.path)
        except OSError:
            pass


class _Terminated(BaseException):
    """A signal (SIGTERM, SIGHUP, or SIGINT without Python's handler) that arrived during ``save``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum} during tl.save")
        self.signum = signum


def _raise_terminated(signum, frame):
    raise _Terminated(signum)


@contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """While ``save`` writes: a SIGTERM, SIGHUP or SIGINT whose handler is the default one
    (which would end the process at once, leaving the temporary file) raises instead, so the
    ``except`` of ``save`` removes the file; then the default handler is put back and the
    signal raised again, and the process ends as it would have. Python's own SIGINT handler
    (KeyboardInterrupt) and handlers a program installed are left alone. Main thread only
    (signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ('SIGTERM', 'SIGHUP', 'SIGINT')
    signums = [getattr(signal, name) for name in names if hasattr(signal, name)]
    installed = [signum for signum in signums if signal.getsignal(signum) is signal.SIG_DFL]
    for signum in installed:
        signal.signal(signum, _raise_terminated)
    try:
        yield
    except _Terminated as terminated:
        for signum in installed:
            signal.signal(signum, signal.SIG_DFL)
        installed = []
        signal.raise_signal(terminated.signum)  # the default action: the process ends here
        raise
    finally:
        for signum in installed:
            signal.signal(signum, signal.SIG_DFL)


__all__ = ['temp_path_for', 'remove_stale_temp_files', 'cleanup_on_signals']
