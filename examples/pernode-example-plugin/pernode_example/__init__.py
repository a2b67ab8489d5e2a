"""An example pernode plugin (see plugin.py)."""
