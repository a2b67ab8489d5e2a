"""Sweeps: a TOML config's grid (``config``), its runs and shards (``plan``), the state beside
the log (``state``) and the loop that trains them (``loop``)."""
