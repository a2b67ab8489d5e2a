"""The documentation: the site builds with ``mkdocs build --strict``, its generated pages cover
every log column and every command option, and README.md stays a short entrance whose links hold."""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

needs_mkdocs = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                  reason='mkdocs is not installed (pip install ".[docs]")')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def code_spans(page: Path) -> set:
    """The texts of a built page's code elements, unescaped, and each of their words."""
    texts = {html.unescape(t) for t in re.findall(r"<code>(.*?)</code>", page.read_text(encoding="utf-8"), re.S)}
    words = {w.strip(",") for t in texts for w in t.split()}
    return texts | words


@needs_mkdocs
def test_the_site_builds_strictly_and_lists_every_log_column(site):
    from pernode_cli.schema import TIMING_COLUMNS, TRAIN_COLUMNS

    spans = code_spans(site / "schema" / "index.html")
    assert [c for c in TRAIN_COLUMNS if c not in spans] == []
    assert [c for c in TIMING_COLUMNS if c not in spans] == []


@needs_mkdocs
def test_every_command_page_lists_every_option_of_its_command(site):
    import typer

    from pernode_cli.cli import app

    group = typer.main.get_command(app)
    assert group.commands, "the app has no commands"
    missing = {}
    for name, command in group.commands.items():
        page = site / "commands" / name / "index.html"
        assert page.is_file(), f"no page for `pernode {name}`"
        spans = code_spans(page)
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "argument":
                wanted = [param.metavar or param.name.upper()]
                found = any(s.startswith(wanted[0]) for s in spans)
            else:
                wanted = [*param.opts, *param.secondary_opts]
                found = all(opt in spans for opt in wanted)
            if not found:
                missing.setdefault(name, []).extend(wanted)
        assert "-h" in spans and "--help" in spans, f"`pernode {name}` page lacks -h, --help"
    assert missing == {}


def test_readme_is_an_entrance_whose_links_hold():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert any(t.startswith("docs/") for t in local)
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_readme_gives_the_commands_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    assert 'pip install ".[test]" && pytest' in text
    assert 'pip install ".[test]" && pytest' in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install . && pernode train" in text
