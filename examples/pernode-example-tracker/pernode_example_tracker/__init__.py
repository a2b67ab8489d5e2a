"""An example pernode tracker: ``--track record:FILE.jsonl`` (see ``tracker``)."""
