"""Standard streams that cannot lose work: the display is best effort.

Every command saves its results (logs, timing logs, report folders) before or while it shows
them; a standard output that is closed, full (``/dev/full``) or a broken pipe must not stop
it half-way. ``guard_streams`` puts file descriptors 0-2 on ``/dev/null`` where they are
closed (so no file the command opens can take their numbers and receive output meant for
the terminal), and wraps ``sys.stdout`` and ``sys.stderr`` so that a failed write is
recorded instead of raised. The command then ends with one line and exit code 1 when its
standard output could not be written.
"""

from __future__ import annotations

import errno
import io
import os
import sys


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return {errno.ENOSPC: "no space left on the device", errno.EPIPE: "the reader went away (broken pipe)",
                errno.EBADF: "it is closed"}.get(exc.errno, exc.strerror or str(exc))
    return "it is closed"


class SafeStream(io.TextIOBase):
    """A text stream whose failed writes are recorded (``error``), never raised."""

    def __init__(self, stream, name: str, closed: bool = False):
        super().__init__()
        self.stream, self.name = stream, name
        self.error = None
        self._errno = None
        self._closed_at_start = closed or stream is None

    @property
    def broken_pipe(self) -> bool:
        return self._errno == errno.EPIPE

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = _reason(exc)
            self._errno = getattr(exc, "errno", None)
        if self.stream is not None:  # whatever Python flushes at exit goes nowhere, and quietly
            try:
                fd = self.stream.fileno()
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
            except (OSError, ValueError, AttributeError):
                pass

    def write(self, text) -> int:
        if self._closed_at_start:
            if text and self.error is None:
                self.error = "it is closed"
            return len(text)
        if self.error is not None:
            return len(text)
        try:
            self.stream.write(text)
        except (OSError, ValueError) as exc:
            self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self._closed_at_start or self.error is not None:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def isatty(self) -> bool:
        try:
            return not self._closed_at_start and self.stream.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        if self._closed_at_start:
            raise io.UnsupportedOperation("closed at start")
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self):
        return getattr(self.stream, "errors", "strict")


def _occupy_closed_fds() -> set:
    """Put /dev/null on each of fds 0, 1, 2 that is closed; return those that were."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.add(fd)
    return closed


def guard_streams() -> tuple[SafeStream, SafeStream]:
    """Install the safe streams; returns ``(stdout, stderr)`` wrappers."""
    closed = _occupy_closed_fds()
    out = sys.stdout if isinstance(sys.stdout, SafeStream) else SafeStream(sys.stdout, "stdout", 1 in closed)
    err = sys.stderr if isinstance(sys.stderr, SafeStream) else SafeStream(sys.stderr, "stderr", 2 in closed)
    sys.stdout, sys.stderr = out, err
    return out, err


def finish(out: SafeStream) -> str | None:
    """Flush ``out``; the reason it could not be written, or None."""
    out.flush()
    return out.error
