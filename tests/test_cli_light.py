import subprocess
import sys

from typer.testing import CliRunner

from pernode_cli import __version__
from pernode_cli.cli import app
from tests.helpers import heavy_modules_after

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"pernode {__version__}"


def test_help_imports_neither_tensorflow_nor_keras():
    assert heavy_modules_after(["--help"]) == []


def _pernode(*args):
    code = "import sys; from pernode_cli.cli import main; sys.argv = ['pernode', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_option_parsing_errors_are_one_line_exit_2():
    for args, message in [
        (["train", "--rate", "abc"], "Invalid value for '--rate'"),
        (["train", "--bogus", "1"], "No such option: --bogus"),
        (["rank"], "Missing argument 'LOG'"),
    ]:
        out = _pernode(*args)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        assert f"see 'pernode {args[0]} --help'" in out.stderr


def test_console_entry_point_help_and_version():
    assert "Usage: pernode" in _pernode().stdout  # no arguments: the help
    out = _pernode("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"pernode {__version__}"


def test_a_logging_handler_made_while_hidden_writes_to_the_real_stream_afterwards(monkeypatch, capsys):
    # TensorFlow makes its logger's handler at import, inside the hidden window: once the
    # window closes, its sink is closed, and a later warning printed a "Logging error" traceback.
    import logging

    from pernode_cli.training.environment import BACKEND_LOGS_ENV, backend_chatter_hidden

    monkeypatch.delenv(BACKEND_LOGS_ENV, raising=False)
    logger = logging.getLogger("pernode-test-backend")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    with backend_chatter_hidden():
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.warning("hidden at start-up")
    logger.warning("a retracing warning")  # chatter: stays hidden
    logger.error("an error the user must see")
    err = capsys.readouterr().err
    assert "Logging error" not in err and "hidden at start-up" not in err and "a retracing warning" not in err
    assert "an error the user must see" in err
