"""Run names a person can read in a tracker: ``Dropout r0.3 s0``.

A name is the variant, then its rate (``r``) and the other settings that differ among the runs
sent (the data set first; ``u`` units, ``b`` batch size, ``lr``, ``e`` epochs, ``n`` training
samples, ``p`` patience, ``mc`` Monte Carlo samples), then the seed (``s``); an attempt after the
first says so (``attempt 2``). Two runs that would still have one name are told apart by their
run id's hash (``#3f2a1b``), never otherwise. The runs known are those announced
(``Exporters.announce``: `pernode export` announces every attempt it reads) or received so far,
so a live sweep names a run by what it has seen when that run reaches its trackers. A name, once
given, stays the run's name for every tracker.
"""

from __future__ import annotations

import threading

from pernode_cli.export.columns import split_row

# (setting, prefix) that join the name when they differ among the runs; "" prefixes the value
OPTIONAL_PARTS = (("units", "u"), ("batch_size", "b"), ("lr", "lr"), ("epochs", "e"), ("max_train_samples", "n"),
                  ("patience", "p"), ("mc_samples", "mc"))
ALWAYS = ("variant", "rate", "seed")


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_hash(run_id: str) -> str:
    """The hash part of a run id (``Dropout-3f2a1b9c0d`` -> ``3f2a1b``)."""
    tail = str(run_id).rsplit("-", 1)[-1]
    if len(tail) >= 6 and all(c in "0123456789abcdef" for c in tail.lower()):
        return tail[:6]
    import hashlib

    return hashlib.sha1(str(run_id).encode()).hexdigest()[:6]


class RunNames:
    """The names of the runs one ``Exporters`` sends (shared by its trackers' threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._settings: dict = {}  # run_id -> its settings (the params of its first row)
        self._given: dict = {}  # (run_id, attempt) -> name

    def see(self, run_id: str, row: dict) -> None:
        """A run's first row (or any row of it): its settings join those the names compare."""
        run_id = str(run_id)
        if run_id in self._settings:
            return
        try:
            params = split_row(row)[0]
        except Exception:  # a row that cannot be read names nothing
            return
        with self._lock:
            self._settings.setdefault(run_id, params)

    def _differing(self) -> set:
        return {k for k, _ in OPTIONAL_PARTS + (("dataset", ""),)
                if len({repr(s.get(k)) for s in self._settings.values()}) > 1}

    @staticmethod
    def _base(params: dict, differing: set) -> str:
        parts = [_text(params["dataset"])] if "dataset" in differing and params.get("dataset") is not None else []
        parts.append(_text(params.get("variant") or "run"))
        if params.get("rate") is not None:
            parts.append(f"r{_text(params['rate'])}")
        parts += [f"{prefix}{_text(params[k])}" for k, prefix in OPTIONAL_PARTS
                  if k in differing and params.get(k) is not None]
        if params.get("seed") is not None:
            parts.append(f"s{_text(params['seed'])}")
        return " ".join(parts)

    def name(self, run_id: str, attempt: int, row: dict) -> str:
        """The name of ``run_id`` ``attempt`` (fixed at its first call)."""
        run_id, key = str(run_id), (str(run_id), int(attempt))
        self.see(run_id, row)
        with self._lock:
            if key in self._given:
                return self._given[key]
            params = self._settings.get(run_id, {})
            differing = self._differing()
            base = self._base(params, differing)
            tied = any(self._base(s, differing) == base for other, s in self._settings.items() if other != run_id)
            name = f"{base} #{run_hash(run_id)}" if tied else base
            if int(attempt) > 1:
                name += f" attempt {int(attempt)}"
            self._given[key] = name
            return name
