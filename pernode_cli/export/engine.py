"""The export engine: the caller hands rows over, a background thread per tracker sends them.

The caller's side (``Exporters``) only copies the row and puts it on a bounded queue
(``put_nowait``): it never waits for a tracker and never raises. Each tracker has its own
thread, queue and state, so a slow MLflow server does not hold TensorBoard up. The thread
keeps every run's rows until they are sent; a send that fails for a reason that may pass
(the server unreachable, a timeout, a full disk) is retried with exponential backoff, the
rows staying buffered meanwhile; one that cannot succeed (the tracker refuses the data)
gives that run up. ``close(timeout_s)`` lets the threads send what is left until the
deadline and returns one line per run that could not be sent.

A queue that is full (a tracker stuck for very long) drops the event, never the caller's
time: the run's later epochs wait for ``run_end``, whose rows fill in what was dropped, so
a run reaches the tracker whole and in epoch order (TensorBoard hides steps written out of
order) or is reported.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from pernode_cli.export.columns import row_epoch, split_row
from pernode_cli.export.names import RunNames

log = logging.getLogger("pernode.export")

QUEUE_SIZE = 100_000  # events per tracker between the caller and its thread
BACKOFF_FIRST_S = 0.5  # first wait after a failed send; doubled after each further failure
BACKOFF_MAX_S = 30.0
CLOSE_TIMEOUT_S = 30.0
# At the end, a tracker that refuses connections (nothing listens: the server is down) is tried
# again for this long, every half second, not for the whole timeout.
REFUSED_GRACE_S = 2.0


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failed sends (1, 2, ...)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1))


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


@dataclass
class RunState:
    """What a tracker's thread holds of one run (one run id and attempt)."""

    run_id: str
    attempt: int
    seq: int = 0  # order first received (the report's order)
    params: dict = field(default_factory=dict)  # run_start's extra settings
    tags: dict = field(default_factory=dict)  # run_start's extra tags
    rows: dict = field(default_factory=dict)  # epoch -> row, first received wins
    sent: set = field(default_factory=set)  # epochs the tracker holds
    ended: bool = False
    end_sent: bool = False
    handle: Any = None  # the sink's handle of the tracker run, once opened
    error: str = ""  # why the last send failed
    given_up: bool = False  # the tracker refused this run: nothing more is tried
    dropped: int = 0  # events the full queue could not take
    epochs: int = 0  # epochs received in all

    def pending(self) -> bool:
        if self.given_up:
            return False
        return any(e not in self.sent for e in self.rows) or (self.ended and not self.end_sent and bool(self.rows))

    def ordered(self) -> list:
        return [self.rows[e] for e in sorted(self.rows) if self.rows[e] is not None]


@dataclass
class SinkSummary:
    """What one tracker received, counted by its thread."""

    name: str
    runs_created: int = 0
    runs_reused: int = 0  # runs the tracker already held (same run id and attempt)
    epochs_written: int = 0  # epochs that brought the tracker at least one new value
    epochs_present: int = 0  # epochs the tracker already held whole


class Sink:
    """One tracker, driven by its worker thread only. Methods may block and raise.

    A tracker (``trackers.register_tracker``) subclasses it: ``open_run`` and ``send`` are
    required, the rest optional. ``name`` words the tracker in reports ("MLflow http://...").
    """

    name = "tracker"
    end_words = "its end"  # what ``end`` sends, as a report line words it

    def start(self) -> None:
        """Import the tracker's package and reach it (called once, retried while it fails)."""

    def open_run(self, run_id: str, attempt: int, params: dict, tags: dict, first_row: dict,
                 name: str) -> tuple[Any, bool]:
        """The tracker run of ``run_id`` and ``attempt``, found or created: ``(handle, reused)``.
        ``params``: the settings (``columns.split_row``, plus ``run_start``'s); ``tags``: the rest
        (environment, outcome, source); ``name``: the run's readable name (``names.RunNames``)."""
        raise NotImplementedError

    def send(self, handle, rows: list) -> tuple[int, int]:
        """Send ``rows`` (epoch order) except what the tracker holds: ``(written, present)`` epochs."""
        raise NotImplementedError

    def end(self, handle, rows: list, tags: dict) -> None:
        """The attempt ended: its last row is ``rows[-1]`` (every row of it in ``rows``)."""

    def unsent(self, handle) -> list:
        """Parts of a run the tracker would not take (a parameter it holds with another value)."""
        return []

    def permanent(self, exc: BaseException) -> bool:
        """True when retrying cannot help (the tracker refused the data)."""
        return not isinstance(exc, (OSError, TimeoutError))

    def describe(self, exc: BaseException) -> str:
        """Why a send failed, in one short line."""
        return one_line(exc)

    def refused(self, exc: BaseException) -> bool:
        """True when nothing listens at the tracker's address (a refused connection): at the end
        of a command one more try is made, not a wait until the timeout."""
        return isinstance(exc, ConnectionRefusedError)

    def close(self) -> None:
        pass


class _Worker:
    """One tracker's queue and thread."""

    def __init__(self, sink: Sink, queue_size: int, on_problem=None, names: Optional[RunNames] = None):
        self.sink, self.queue = sink, queue.Queue(maxsize=queue_size)
        self.names = names if names is not None else RunNames()
        self.on_problem, self.told = on_problem, False  # said once, at the first failed send
        self.refused = False  # the last failure was a refused connection
        self.stopping = False  # close() asked for the last sends
        self.runs: dict[tuple, RunState] = {}
        self.summary = SinkSummary(sink.name)
        self.lock = threading.Lock()  # guards ``runs`` against the report read by close()
        self.started, self.start_error, self.fatal = False, "", ""
        self.failures, self.retry_at, self.last_error = 0, 0.0, ""  # the tracker's, not one run's
        # The caller's side: runs whose events found the queue full, and ends it could not queue.
        self.lossy: dict[tuple, int] = {}
        self.ends_lost: set = set()
        self.thread = threading.Thread(target=self._loop, name=f"pernode-export {sink.name}", daemon=True)
        self.thread.start()

    # -- the caller's thread: never blocks, never raises
    def put(self, kind: str, key: tuple, payload) -> None:
        if kind == "epoch" and key in self.lossy:
            self.lossy[key] += 1  # after a drop the run waits for run_end's rows (epoch order)
            return
        if kind == "end":
            payload = (payload, self.lossy.pop(key, 0))
        try:
            self.queue.put_nowait((kind, key, payload))
        except queue.Full:
            if kind == "end":
                self.ends_lost.add(key)
            else:
                self.lossy[key] = self.lossy.get(key, 0) + 1

    def stop(self, deadline: float) -> None:
        try:
            self.queue.put(("stop", None, deadline), timeout=max(0.0, deadline - time.monotonic()) + 0.1)
        except queue.Full:
            pass  # the thread is daemonic; its report says what is left

    # -- the worker's thread
    def _apply(self, kind: str, key: tuple, payload) -> None:
        with self.lock:
            run = self.runs.get(key)
            if run is None:
                run = self.runs[key] = RunState(run_id=key[0], attempt=key[1], seq=len(self.runs))
            if kind == "start":
                params, tags = payload
                run.params.update(params)
                run.tags.update(tags)
            elif kind == "epoch":
                self._add_row(run, payload)
            elif kind == "end":
                rows, dropped = payload
                if rows is None:
                    run.dropped += dropped  # dropped epochs stay lost: no rows to fill them in
                for row in rows or ():
                    self._add_row(run, row, count=False)
                if rows:
                    run.epochs = max(run.epochs, len(run.rows))
                run.ended = True

    @staticmethod
    def _add_row(run: RunState, row: dict, count: bool = True) -> None:
        epoch = row_epoch(row)
        if epoch is None:
            return
        if epoch not in run.rows:
            run.rows[epoch] = row
            run.epochs += count

    def _pending(self) -> bool:
        if self.fatal:
            return False
        return any(r.pending() for r in self.runs.values())

    def _loop(self) -> None:
        stop_at = refused_until = None
        while True:
            wait = None
            if self._pending():
                wait = max(0.0, self.retry_at - time.monotonic())
            if stop_at is not None:
                left = max(0.0, stop_at - time.monotonic())
                wait = left if wait is None else min(wait, left)
            item = self._get(wait)
            while item is not None:
                kind, key, payload = item
                if kind == "stop":
                    stop_at, self.retry_at = payload, 0.0  # one more try at once, whatever the backoff
                    refused_until = time.monotonic() + REFUSED_GRACE_S
                    self.stopping = True
                else:
                    self._apply(kind, key, payload)
                item = self._get(0)
            if time.monotonic() >= self.retry_at:
                self._flush()
            now = time.monotonic()
            refused = self.refused and refused_until is not None and now >= refused_until
            if stop_at is not None and (not self._pending() or now >= stop_at or refused):
                break  # sent, out of time, or nothing listens at the tracker's address: no wait for nothing
        try:
            self.sink.close()
        except Exception as exc:  # a tracker that fails to close loses nothing already sent
            log.debug("closing %s failed: %s", self.sink.name, exc)

    def _get(self, wait: Optional[float]):
        try:
            return self.queue.get_nowait() if wait == 0 else self.queue.get(timeout=wait)
        except queue.Empty:
            return None

    def _flush(self) -> None:
        for run in list(self.runs.values()):
            if not run.pending() or self.fatal:
                continue
            try:
                self._step(run)
            except Exception as exc:
                message = self.sink.describe(exc)
                self.refused = self.sink.refused(exc)
                self._tell(message)
                if not self.started:
                    self.start_error = message
                if self.sink.permanent(exc):
                    if not self.started:
                        self.fatal = message  # the tracker cannot be used at all
                        return
                    with self.lock:
                        run.given_up, run.error = True, message
                    continue
                run.error = self.last_error = message
                with self.lock:  # the next try starts with the other runs: one bad run cannot starve them
                    self.runs[(run.run_id, run.attempt)] = self.runs.pop((run.run_id, run.attempt))
                self.failures += 1
                wait = min(backoff(self.failures), 0.5) if self.stopping and self.refused else backoff(self.failures)
                self.retry_at = time.monotonic() + wait
                log.debug("%s: %s; retrying in %.1f s", self.sink.name, message, backoff(self.failures))
                return
            self.failures, self.last_error, self.refused = 0, "", False

    def _tell(self, message: str) -> None:
        """The first failed send, told at once (the rows stay buffered and are retried)."""
        if self.told or self.on_problem is None:
            return
        self.told = True
        try:
            self.on_problem(self.sink.name, message)
        except Exception as exc:  # a display that fails must not stop the sends
            log.debug("telling of %s failed: %s", self.sink.name, exc)

    def _step(self, run: RunState) -> None:
        if not self.started:
            self.sink.start()
            self.started, self.start_error = True, ""
        rows = run.ordered()
        if not rows:
            return
        if run.handle is None:
            params, _, tags = split_row(rows[0])
            params = {**run.params, **params}
            tags = {**tags, **run.tags}
            name = self.names.name(run.run_id, run.attempt, rows[0])
            run.handle, reused = self.sink.open_run(run.run_id, run.attempt, params, tags, rows[0], name)
            if reused:
                self.summary.runs_reused += 1
            else:
                self.summary.runs_created += 1
        todo = [r for r in rows if row_epoch(r) not in run.sent]
        if todo:
            written, present = self.sink.send(run.handle, todo)
            self.summary.epochs_written += written
            self.summary.epochs_present += present
            with self.lock:
                run.sent.update(row_epoch(r) for r in todo)
        if run.ended and not run.end_sent:
            _, _, tags = split_row(rows[-1])
            self.sink.end(run.handle, rows, {**tags, **run.tags})
            with self.lock:
                run.end_sent, run.error = True, ""
                run.rows = {e: None for e in run.rows}  # sent: keep the epochs, free the rows

    # -- the report, read by close() (the thread may still be running after a timeout)
    def report(self, timed_out: bool, timeout_s: float) -> list[str]:
        lines = []
        with self.lock:  # the thread may still be running: read its state in one piece
            runs = sorted(self.runs.values(), key=lambda r: r.seq)
            keys = {(r.run_id, r.attempt) for r in runs}
            for run in runs:
                what = self._unsent(run)
                extra = list(self.sink.unsent(run.handle)) if run.handle is not None else []
                if not what and not extra:
                    continue
                if what:
                    extra.insert(0, f"{what} not sent ({self._reason(run, timed_out, timeout_s)})")
                lines.append(f"{self.sink.name}: run {run.run_id} attempt {run.attempt}: {'; '.join(extra)}")
        for key in sorted(set(self.lossy) | self.ends_lost):
            if key not in keys:  # nothing of it ever reached the thread
                lines.append(f"{self.sink.name}: run {key[0]} attempt {key[1]}: not sent (the export queue was full)")
        return lines

    def _unsent(self, run: RunState) -> str:
        key = (run.run_id, run.attempt)
        missing = [e for e in run.rows if e not in run.sent]
        lost = run.dropped + (0 if run.ended else self.lossy.get(key, 0))
        ended = run.ended or key in self.ends_lost
        total = max(run.epochs, len(run.rows)) + lost
        if not run.rows and not lost:
            return ""
        parts = []
        if missing or lost:
            count = len(missing) + lost
            parts.append(f"all {total} epoch(s)" if count >= total and not run.sent else f"{count} of {total} epoch(s)")
        if ended and not run.end_sent:
            parts.append(self.sink.end_words)
        return " and ".join(parts)

    def _reason(self, run: RunState, timed_out: bool, timeout_s: float) -> str:
        if self.fatal:
            return self.fatal
        key = (run.run_id, run.attempt)
        if key in self.ends_lost or run.dropped or (self.lossy.get(key) and not run.ended):
            return "the export queue was full"
        if run.given_up:
            return f"refused: {run.error}"
        cause = run.error or self.last_error or self.start_error
        if cause:
            return f"gave up after {timeout_s:g} s: {cause}"
        return f"gave up after {timeout_s:g} s, before any answer from the tracker"


class Exporters:
    """Trackers that receive a copy of the log's rows; see ``pernode_cli.export``.

    Every method returns at once and never raises: the CSV log stays the truth whatever
    the trackers do.
    """

    def __init__(self, sinks: list, queue_size: int = QUEUE_SIZE, on_problem=None):
        """``on_problem(tracker, message)``: called once per tracker, from its thread, at its first
        failed send (the caller says so at once, not only at the end)."""
        self._names = RunNames()  # one name per run for every tracker
        self._workers = [_Worker(s, queue_size, on_problem, self._names) for s in sinks]
        self._closed = False
        self.problems: list[str] = []

    @property
    def names(self) -> list[str]:
        return [w.sink.name for w in self._workers]

    def __bool__(self) -> bool:
        return bool(self._workers)

    def _put(self, kind: str, run_id, attempt, payload) -> None:
        if self._closed or not self._workers:
            return
        try:
            key = (str(run_id), int(attempt))
            for w in self._workers:
                w.put(kind, key, payload)
        except Exception as exc:  # never the caller's problem
            log.debug("export of %s attempt %s dropped: %s", run_id, attempt, exc)

    def run_start(self, run_id: str, attempt: int, params: Optional[dict] = None, tags: Optional[dict] = None) -> None:
        """A run attempt begins. ``params``: settings beyond the log's columns; ``tags``: e.g.
        ``{"source": LOG, "config": TOML}``. Optional: a run is opened at its first row anyway."""
        try:
            payload = (dict(params or {}), {str(k): str(v) for k, v in (tags or {}).items()})
        except Exception:
            return
        self._put("start", run_id, attempt, payload)

    def announce(self, run_id: str, attempt: int, row: dict) -> None:
        """A run that will be sent (one of its rows): its settings join those the runs' names are
        made from (``names.RunNames``). Optional; `pernode export` announces every attempt first."""
        if self._workers and not self._closed:
            try:
                self._names.see(str(run_id), dict(row))
            except Exception:
                return

    def epoch(self, run_id: str, attempt: int, row: dict) -> None:
        """One row of the log (already written to the CSV): every numeric column at step = epoch."""
        try:
            row = dict(row)
        except Exception:
            return
        if self._workers and not self._closed:
            try:
                self._names.see(str(run_id), row)  # at once for a run already seen
            except Exception:
                pass
        self._put("epoch", run_id, attempt, row)

    def run_end(self, run_id: str, attempt: int, rows: Optional[list] = None) -> None:
        """The attempt ended (finished, diverged, interrupted or failed). ``rows``: every row of
        the attempt, which fills in epochs not received; None: the rows received."""
        try:
            rows = [dict(r) for r in rows] if rows is not None else None
        except Exception:
            rows = None
        self._put("end", run_id, attempt, rows)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> list[str]:
        """Send what is left until ``timeout_s`` has passed; one line per run not sent whole."""
        if self._closed:
            return self.problems
        self._closed = True
        deadline = time.monotonic() + max(0.0, float(timeout_s))
        for w in self._workers:
            w.stop(deadline)
        for w in self._workers:
            w.thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        self.problems = [line for w in self._workers for line in w.report(w.thread.is_alive(), timeout_s)]
        return self.problems

    def summaries(self) -> list[SinkSummary]:
        """Per tracker: runs created and reused, epochs written and already there."""
        return [w.summary for w in self._workers]

    def __enter__(self) -> "Exporters":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
