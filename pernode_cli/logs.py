"""Every read and write of CSV logs.

The log is the one source of truth. Writing: one writer per log (an advisory lock beside
it), rows appended whole (a short write is undone), each fsynced, nothing already written
removed or rewritten. A last line that lacks only its newline gets it back; a torn last
line is moved aside to a file next to the log. Reading: each row once, with one clear
error per unusable file. Columns come from the records that declare them (``EpochRow``,
``TimingRecord``).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import io
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pernode_cli.errors import PernodeError, RunFailed
from pernode_cli.paths import describe, existing_file, real_path
from pernode_cli.schema import CELLS, KNOWN_HEADERS, KNOWN_VERSIONS, TRAIN_COLUMNS, Cell, header_version, older_layout

notices = logging.getLogger("pernode")  # one-line notices the command line prints

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None

csv.field_size_limit(1 << 30)  # a long cell is data, not a reason to fail


class _Critical:
    """Whole writes under way (``depth``) and an interrupt that arrived during one."""

    depth = 0
    pending = None  # a callable that raises the deferred interrupt


_CRITICAL = _Critical()


@contextlib.contextmanager
def whole_write():
    """A write that must finish once begun: a Ctrl-C or SIGTERM that arrives inside is raised
    when it ends (see ``defer_interrupt``), so no row is ever cut by an interrupt."""
    _CRITICAL.depth += 1
    try:
        yield
    finally:
        _CRITICAL.depth -= 1
        if _CRITICAL.depth == 0 and _CRITICAL.pending is not None:
            raise_it, _CRITICAL.pending = _CRITICAL.pending, None
            raise_it()


def defer_interrupt(raise_it) -> bool:
    """For a signal handler: while a whole write is under way, keep ``raise_it`` for its end
    and return True; otherwise return False (raise now)."""
    if _CRITICAL.depth:
        _CRITICAL.pending = raise_it
        return True
    return False


def format_row(columns, row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue()


def format_header(columns) -> str:
    return format_row(columns, dict(zip(columns, columns)))


BOM = "\ufeff"  # a UTF-8 byte-order mark (editors and spreadsheets add one): read as if absent


def read_header(path: Path) -> list[str] | None:
    with open(path, newline="", encoding="utf-8-sig") as f:
        first = f.readline()
    return next(csv.reader([first])) if first else None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with whole_write():
            with open(tmp, "w", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunFailed(f"Cannot write {path} ({exc.strerror or exc}).") from None


def lock_path(log: Path) -> Path:
    return log.with_name(log.name + ".lock")


def sweep_state_path(log: Path) -> Path:
    """A sweep's state file beside its log (``LOG.sweep.json``)."""
    return log.with_name(log.name + ".sweep.json")


class LogLock:
    """One writer per log: an exclusive ``flock`` on ``LOG.lock``, which names its holder,
    and one on the log file itself, which is what two hard links of one log share (symbolic
    links are followed to the one real path, whose ``LOG.lock`` they share).

    The kernel drops the locks when their process dies, however it dies, so a lock left by a
    killed process is free: the next writer takes it over and says so.
    """

    def __init__(self, log):
        self.log = check_log_path(log)
        self.path, self.fd, self.created = lock_path(self.log), None, False
        self.file_fd = None  # the flock on the log's own inode, once the log exists

    def _busy_elsewhere(self) -> PernodeError:
        return PernodeError(
            f"Log {self.log} is being written by another process through another name of the same file (a hard "
            "link); wait for it to finish, or give another `log`."
        )

    def hold_file(self) -> None:
        """Lock the log's inode (called on acquiring, and again once the log is created)."""
        if fcntl is None or self.fd is None:
            return
        fd = self._lock_log_file(fcntl.LOCK_EX, unreadable_ok=False)
        if fd is not None:
            if self.file_fd is not None:
                os.close(self.file_fd)
            self.file_fd = fd

    def _lock_log_file(self, operation: int, unreadable_ok: bool) -> "int | None":
        """An open descriptor of the log with ``flock(operation)`` taken, or None where there is
        no log yet (or, with ``unreadable_ok``, it cannot be opened) or the file system has no
        flock on files (the lock beside the log still holds); another holder is refused."""
        try:
            fd = os.open(self.log, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if unreadable_ok:
                return None  # the writer says so when it opens it
            raise PernodeError(f"Cannot read log {self.log} ({exc.strerror}); give another `log`.") from None
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise self._busy_elsewhere() from None
            return None
        return fd

    def _busy(self, holder: str) -> PernodeError:
        return PernodeError(
            f"Log {self.log} is being written by another process ({holder or 'holder unknown'}); wait for it "
            "to finish, or give another `log`."
        )

    def _open_and_lock(self) -> tuple[int, str]:
        """Lock the file now at the lock's path: a file unlinked by a failed start between
        our open and our flock is not the lock any more, so try again."""
        for _ in range(10):
            self.created = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise PernodeError(f"Cannot create the lock {self.path} of log {self.log} ({exc.strerror}).") from None
            previous = os.read(fd, 4096).decode(errors="replace").strip()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._busy(previous) from None
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    return fd, previous
            except FileNotFoundError:
                pass
            os.close(fd)
        raise PernodeError(f"Cannot take the lock {self.path} of log {self.log}; try again.")

    def acquire(self) -> "LogLock":
        if fcntl is None:
            return self
        fd, previous = self._open_and_lock()
        self.fd = fd
        try:  # before the holder is written: a refused start leaves no lock file of its own
            self.hold_file()
        except BaseException:
            self._close_refused()
            raise
        if previous:
            notices.info(f"took over the lock of {self.log} left by a process that ended ({previous})")
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:  # who holds it: best effort (a full disk must not stop the lock)
            os.ftruncate(fd, 0)
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}: {' '.join(sys.argv)}\n"
            os.pwrite(fd, holder.encode(), 0)
        except OSError:
            pass
        return self

    def probe(self) -> None:
        """Refuse at once when another process holds the lock (before any slow start-up);
        the lock itself is taken later, by ``acquire``."""
        if fcntl is None:
            return
        if self.path.exists():
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                raise PernodeError(f"Cannot read the lock {self.path} of log {self.log} ({exc.strerror}).") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                raise self._busy(os.read(fd, 4096).decode(errors="replace").strip()) from None
            finally:
                os.close(fd)
        fd = self._lock_log_file(fcntl.LOCK_SH, unreadable_ok=True)
        if fd is not None:
            os.close(fd)

    def release(self, wrote_nothing: bool = False) -> None:
        """Drop the lock and remove ``LOG.lock``: a clean end leaves nothing beside the log (a
        killed writer's lock stays, free, naming its holder for the next one to report).
        ``wrote_nothing``: a start that failed removes the lock file only if it made it."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # no holder to report, should the file outlive us
        except OSError:
            pass
        if wrote_nothing:
            self._close_refused()
        else:
            self._close()

    def _close(self) -> None:
        """Drop both flocks (closing drops a flock), removing the lock file first while it is still
        held: a process that opened it meanwhile finds, once it has the flock, that the file at the
        lock's path is another (or none) and starts again (``_open_and_lock``)."""
        if self.file_fd is not None:
            os.close(self.file_fd)
            self.file_fd = None
        try:
            if os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        except OSError:
            pass  # gone already, or a folder we may not change: the free lock file is harmless
        os.close(self.fd)
        self.fd = None

    def _close_refused(self) -> None:
        """A start refused right after taking the lock file: remove it only if this start made it
        (an existing one, a killed writer's, stays as it was)."""
        if self.file_fd is not None:
            os.close(self.file_fd)
            self.file_fd = None
        if self.created:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, exc_type, *exc):
        self.release()


def check_log_path(path) -> Path:
    """The log's real file (every symbolic link followed, so that two names of one file share
    one lock and a link is written through, never replaced) in an existing folder; raises
    otherwise. Writes nothing."""
    given = "" if path is None else os.fspath(path)
    if not given:
        raise PernodeError("The log path is empty; give a file name such as logs.csv as `log`.")
    real = real_path(given, "log")
    shown = describe(given, real)
    if real.is_dir():
        raise PernodeError(f"Log path {shown} is a folder; give a file name such as logs.csv as `log`.")
    if not real.parent.is_dir():
        raise PernodeError(f"Folder {real.parent} of the log {shown} does not exist; create it first.")
    if real.exists() and not real.is_file():
        raise PernodeError(f"Log path {shown} is not a regular file; give another `log`.")
    return real


def _is_complete(line: bytes, columns: list[str]) -> bool:
    """A last line without its newline is a whole row when it has every field, and in
    pernode's logs a last field (the schema version) that was written to its end."""
    try:
        fields = next(csv.reader([line.decode()]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False
    if len(fields) != len(columns):
        return False
    return fields[-1].strip().isdigit() if columns[-1] == "schema_version" else True


def _refuse_later(path, defaults: dict, settings: dict) -> None:
    for column, default in defaults.items():
        if settings.get(column, default) != default:
            raise PernodeError(
                f"Log {path} was written before the setting `{column}` existed, so it holds only runs with "
                f"{column} = {default!r}; give a new `log` for runs with {column} = {settings[column]!r}."
            )


def check_appendable(path, settings: dict) -> None:
    """``CsvLog.accepts`` before the log is opened (and before the backend's slow start): an
    existing log of an older layout refuses a run whose later settings are not at their defaults.
    A log that cannot be read is left to ``CsvLog``, which says why."""
    path = check_log_path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        header = read_header(path)
    except (OSError, UnicodeDecodeError, csv.Error):
        return
    if header != TRAIN_COLUMNS:
        _refuse_later(path, older_layout(header) or {}, settings)


class CsvLog:
    """A CSV log that only ever grows by whole lines, written by one process at a time.

    Opening checks the header of an existing file (never truncating it), takes the lock,
    mends the tail (see the module docstring) and checks that the file can be written
    before any work starts.
    """

    def __init__(self, path, columns=TRAIN_COLUMNS, lock: "LogLock | None" = None):
        self.path, self.columns = check_log_path(path), list(columns)
        self.defaults: dict = {}  # columns of later settings an older log lacks, and the value its runs keep
        self.lock = lock or LogLock(self.path).acquire()  # first: nothing is read or written unlocked
        try:
            if self.path.exists() and self.path.stat().st_size > 0:
                self._check_header()
                self._probe_writable()  # before any repair: an unwritable log is refused untouched
                self._mend_tail()
            else:
                existed = self.path.exists()
                atomic_write(self.path, format_header(self.columns))
                try:
                    self.lock.hold_file()  # the new file's inode, which a hard link made now would share
                except BaseException:
                    if not existed:  # refused at once: the header-only log this start made goes too
                        self.path.unlink(missing_ok=True)
                    raise
        except BaseException:
            self.lock.release(wrote_nothing=True)
            raise

    def _check_header(self) -> None:
        try:
            header = read_header(self.path)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise PernodeError(f"Cannot read log {self.path} ({exc}); give another `log`.") from None
        if header == self.columns:
            return
        later = older_layout(header, self.columns) if self.columns == TRAIN_COLUMNS else None
        if later is None:
            raise PernodeError(
                f"Log {self.path} has a different header than this version of pernode writes; "
                "give a new `log` file (the existing one is left as it is)."
            )
        # A log of an earlier pernode, without a setting added since: appended to in its own layout.
        self.columns, self.defaults = header, later

    def _probe_writable(self) -> None:
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise PernodeError(f"Log {self.path} cannot be written ({exc.strerror}); give another `log`.") from None

    def _mend_tail(self) -> None:
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        tail = data[keep:]
        if keep == 0:  # the header alone (checked above), its newline lost: never a row
            self._write(b"\n")
            notices.info(f"{self.path}: the header lacked its final newline; added it")
            return
        if _is_complete(tail, self.columns):
            self._write(b"\n")
            notices.info(f"{self.path}: the last row lacked its final newline; added it (the row is kept)")
            return
        aside = self._keep_aside(tail)
        try:
            os.truncate(self.path, keep)
        except OSError as exc:
            raise RunFailed(f"Cannot mend log {self.path} ({exc.strerror}); its torn last line is also in "
                            f"{aside.name}.") from None
        notices.info(f"{self.path}: moved a torn last line ({len(tail)} bytes) to {aside.name}")

    def _keep_aside(self, tail: bytes) -> Path:
        """Write a torn tail to a new file beside the log (never over an earlier one)."""
        stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
        for n in range(1000):
            aside = self.path.with_name(f"{self.path.name}.torn-{stamp}" + (f"-{n}" if n else ""))
            try:
                with open(aside, "xb") as f:
                    f.write(tail)
                    f.flush()
                    os.fsync(f.fileno())
                return aside
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunFailed(f"Cannot keep the torn last line of {self.path} aside ({exc.strerror}).") from None
        raise RunFailed(f"Cannot keep the torn last line of {self.path} aside: too many torn files beside it.")

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole or not at all: a short write is retried, a failed one undone."""
        with whole_write():
            self._write_whole(data)

    def _write_whole(self, data: bytes) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise RunFailed(f"Cannot write to log {self.path} ({exc.strerror}).") from None
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, size)  # no torn row stays behind
                reason = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only"}
                raise RunFailed(
                    f"Cannot write to log {self.path} ({reason.get(exc.errno, exc.strerror)}); the log is "
                    "intact up to its last whole row."
                ) from None
        finally:
            os.close(fd)

    def accepts(self, settings: dict) -> None:
        """Refuse, before any work, a run this log's layout cannot hold (an older log lacks the column
        of a setting added since, so it holds only runs with that setting at its default)."""
        _refuse_later(self.path, self.defaults, settings)

    def append(self, row: dict) -> None:
        self.accepts(row)
        self._write(format_row(self.columns, row).encode())

    def close(self) -> None:
        self.lock.release()


@dataclass
class RunInLog:
    """What a log says of one run: its attempts and how the last finished one ended."""

    attempts: int = 0
    end: str = ""  # run_end of a finished attempt ("" while none finished)
    rows: int = 0
    data: set = field(default_factory=set)  # data fingerprints its rows carry
    sources: set = field(default_factory=set)  # where its variant, data set and backbone came from


def whole_bytes(path: Path, columns) -> tuple[bytes, bool]:
    """The log's bytes without a torn last line (one not ended by a newline that is not a
    whole row: it is no record until a writer moves it aside), and whether one was left out.
    A header whose newline was lost is the header, not a torn row; a byte-order mark before
    it is dropped. A header inside the log (two logs joined, of any schema) is refused,
    naming its line."""
    data = path.read_bytes()
    if data.startswith(BOM.encode()):
        data = data[len(BOM.encode()):]
    torn = False
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        if keep == 0 and _is_header(data, columns):
            data += b"\n"
        elif not _is_complete(data[keep:], columns):
            data, torn = data[:keep], True
    refuse_inner_header(path, data)
    return data, torn


def whole_text(path: Path, columns) -> tuple[str, bool]:
    """``whole_bytes`` decoded (UTF-8)."""
    data, torn = whole_bytes(path, columns)
    return data.decode(), torn


def _is_header(line: bytes, columns) -> bool:
    try:
        return bool(columns) and next(csv.reader([line.decode()])) == list(columns)
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False


# How every header pernode writes begins (training logs of every schema, timing logs): no
# row of a log can begin so, since a run id is ``VARIANT-HASH`` and a timestamp a time.
_HEADER_STARTS = tuple(sorted({",".join(h[:2]) + "," for _, h in KNOWN_HEADERS} | {"timestamp,dataset,"}))


def refuse_inner_header(path: Path, data: bytes) -> None:
    """Refuse a log with a header line after its first line: its own header repeated, or
    any header pernode has written (a log of another schema joined to it)."""
    first = data.find(b"\n")
    if first < 0:
        return
    own = b"\n" + data[: first + 1]
    hits = [i for i in (data.find(own, first), *(data.find(b"\n" + start.encode(), first) for start in _HEADER_STARTS))
            if i >= 0]
    if not hits:
        return
    at = min(hits)
    line_no = data.count(b"\n", 0, at + 1) + 1
    end = data.find(b"\n", at + 1)
    line = data[at + 1: end if end >= 0 else len(data)].decode(errors="replace")
    try:
        version = header_version(next(csv.reader([line])))
    except csv.Error:
        version = None
    if (line + "\n").encode() == own[1:]:
        what = "repeats its header"
    elif version is not None:
        what = f"holds the header of a schema-{version} log"
    else:
        what = "holds a header of another pernode log"
    raise PernodeError(
        f"Log {path} {what} at line {line_no} (two logs joined into one?); its rows would be read under the wrong "
        "columns. Split the file at that line and give the parts as separate logs."
    )


def runs_in_log(path, columns=TRAIN_COLUMNS) -> dict[str, RunInLog]:
    """run_id -> its attempts in the log, and whether one finished (has a ``run_end``)."""
    out: dict[str, RunInLog] = {}
    path = Path(path)
    if not path.is_file():
        return out
    try:
        for row in csv.DictReader(io.StringIO(whole_text(path, columns)[0])):
            run = out.setdefault(row.get("run_id") or "", RunInLog())
            run.rows += 1
            run.attempts = max(run.attempts, int(row.get("attempt") or 1))
            if row.get("run_end"):
                run.end = row["run_end"]
            if row.get("data_fingerprint"):
                run.data.add(row["data_fingerprint"])
            if row.get("sources"):
                run.sources.add(row["sources"])
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise PernodeError(f"Cannot read log {path} ({exc}).") from None
    out.pop("", None)
    return out


def expand(patterns: list[str], what: str = "log") -> list[Path]:
    """Files of ``patterns`` (paths or globs), each file once (two names of one file, a link
    included, are one file), in the order first named."""
    paths: dict[Path, Path] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise PernodeError(f"No {what} matches {pattern!r}.")
        for m in matches:
            paths.setdefault(real_path(m, what), Path(m))
    return list(paths.values())


_NONFINITE_WORDS = ("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def _bad_cells(series, rule: Cell):
    """Mask of the cells of ``series`` that break ``rule`` (vectorised: a million rows in a blink)."""
    import numpy as np
    import pandas as pd

    if rule.kind == "str" and not rule.choices and not rule.required:
        return np.zeros(len(series), dtype=bool)  # any text will do
    if series.dtype.kind in "biuf":
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(numbers) if rule.kind != "str" else series.notna().to_numpy()
        spelled_nonfinite = np.zeros(len(series), dtype=bool)
        text = None
    else:
        text = series.astype("string").str.strip().fillna("")
        present = (text != "").to_numpy(dtype=bool)
        if rule.kind == "str":
            bad = ~present if rule.required else np.zeros(len(series), dtype=bool)
            if rule.choices:
                bad |= present & ~text.isin(rule.choices).to_numpy(dtype=bool)
            return bad
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
        spelled_nonfinite = text.str.lower().isin(_NONFINITE_WORDS).to_numpy(dtype=bool)
    if rule.kind == "str":
        return ~present if rule.required else np.zeros(len(series), dtype=bool)
    finite = np.isfinite(numbers)
    bad = present & ~finite & ~spelled_nonfinite & np.isnan(numbers)  # text that is no number
    if not rule.nonfinite:  # nan or inf where only numbers may be
        bad |= present & ~finite
    if rule.required:
        bad |= ~present
    with np.errstate(invalid="ignore"):
        if rule.kind == "int":
            bad |= finite & (numbers != np.floor(numbers))
        if rule.low is not None:
            bad |= finite & (numbers < rule.low)
        if rule.high is not None:
            bad |= finite & ((numbers >= rule.high) if rule.high_open else (numbers > rule.high))
    return bad


def _record_lines(text: str, n: int):
    """The file line of each of the ``n`` data records (blank lines skipped, a quoted newline
    inside a cell counted), and each record's cells as the file holds them."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    start, lines, records = reader.line_num, [], []
    for fields in reader:
        if fields:
            lines.append(start + 1)
            records.append(fields)
        start = reader.line_num
    return lines[:n], records[:n]


BAD_CELL = "_bad_cell"  # a frame column: why a row's cell is impossible (see ``cell_problems``)


def cell_problems(frame, path, text: str, header):
    """Why each row of a training log holds a cell pernode cannot have written (``schema.CELLS``:
    types, ranges, choices; ``schema_version`` one this pernode knows, and its header's), as
    ``"Log L, line N: column C holds 'cell', not RULE"`` for the rows that do, or None when none
    does. Applies to logs whose header has ``schema_version`` (pernode's); a results table from
    elsewhere is not a log and is not checked here. Vectorised: a million rows in a blink."""
    import numpy as np
    import pandas as pd

    if "schema_version" not in frame.columns or frame.empty:
        return None
    version = header_version(header)
    first = np.full(len(frame), -1)
    rules = []
    for column in frame.columns:
        rule = CELLS.get(column)
        if rule is None:
            continue
        if column == "schema_version":
            choices = (version,) if version is not None else KNOWN_VERSIONS
            bad = _bad_cells(frame[column], Cell("int", required=True))
            values = frame[column].astype("string").str.strip()
            bad |= ~values.isin([str(v) for v in choices]).fillna(False).to_numpy(dtype=bool)
            expected = (f"{version}, the version of its header" if version is not None else
                        f"a schema version this pernode knows ({', '.join(map(str, KNOWN_VERSIONS))})")
        else:
            bad = _bad_cells(frame[column], rule)
            expected = rule.expected()
        first[(first < 0) & bad] = len(rules)
        rules.append((column, expected))
    rows = np.flatnonzero(first >= 0)
    if not len(rows):
        return None
    lines, records = _record_lines(text.decode(errors="replace") if isinstance(text, bytes) else text, len(frame))
    names = list(header)
    out = {}
    for i in rows:
        column, expected = rules[first[i]]
        cells = dict(zip(names, records[i])) if i < len(records) else {}
        shown = str(cells.get(column, "")).strip()
        newer = column == "schema_version" and shown.isdigit() and int(shown) > max(KNOWN_VERSIONS)
        out[frame.index[i]] = (f"Log {path}, line {lines[i] if i < len(lines) else '?'}: column {column} holds "
                               f"{shown!r}, not {expected}" + (" (written by a newer pernode? upgrade pernode)"
                                                               if newer else ""))
    return pd.Series(out, dtype=object)


def impossible_cells_error(messages, where: str = "") -> PernodeError:
    """The refusal of rows with impossible cells: the first named, and how many there are."""
    messages = list(messages)
    more = f"; {len(messages)} row(s){where} hold such cells" if len(messages) > 1 else ""
    return PernodeError(f"{messages[0]}{more}. pernode writes no such cell: fix or remove that line, or give the "
                        "log without it.")


def check_cells(frame, path, text: str, header) -> None:
    """Refuse a training log with an impossible cell (``cell_problems``), naming the first."""
    problems = cell_problems(frame, path, text, header)
    if problems is not None:
        raise impossible_cells_error(problems)


def _read_one(path: Path):
    import pandas as pd

    existing_file(path, "Log")
    try:
        header = read_header(path) or []
        data, torn = whole_bytes(path, header)
        if torn:
            notices.info(f"{path}: left out a torn last line (an interrupted write)")
        # Bytes, not decoded text: pandas parses a bytes buffer several times faster. A log's text
        # columns as Python strings (object), which rows are selected from several times faster
        # than from Arrow strings.
        text = {c: object for c in header if CELLS.get(c) is not None and CELLS[c].kind == "str"}
        frame = pd.read_csv(io.BytesIO(data), dtype={"variant": str, "dataset": str, "status": str, "run_id": str,
                                                     "run_end": str, **text},
                            keep_default_na=False, na_values=[""], encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise PernodeError(f"Log {path} is empty; give a log written by pernode train or sweep.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, csv.Error) as exc:
        raise PernodeError(f"Cannot read log {path} as CSV ({str(exc).splitlines()[0]}).") from None
    if frame.empty:
        raise PernodeError(f"Log {path} has a header but no rows.")
    problems = cell_problems(frame, path, data, header)
    if problems is not None:  # refused by whoever reads those rows (``stats.rows.clean_rows``)
        frame[BAD_CELL] = problems
    for column, default in (older_layout(header) or {}).items():  # a log of an earlier pernode, migrated
        frame[column] = default
    frame["source"] = str(path)  # in place: no copy of a large log
    return frame


def read_logs(patterns: list[str]):
    """Every log matching ``patterns`` as one pandas frame, each file once; a ``source``
    column names the file of every row."""
    import pandas as pd

    frames = [_read_one(p) for p in expand(patterns)]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
