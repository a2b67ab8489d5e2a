"""Rendering of result records: Rich tables, CSV, JSON, Markdown, LaTeX and figures. No statistics."""
