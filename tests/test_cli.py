"""The CLI's contract: clear one-line errors and non-zero exits, never a traceback."""

import json

import pytest

from backend import __version__
from backend.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"canopy {__version__}"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["exec", "/no/such/file.py"], "no such file: /no/such/file.py"),
        (["exec", "x.py", "--timeout", "-1"], "--timeout"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_is_one_clear_error(argv, needle, capsys):
    code, out, err = run(argv, capsys)
    assert code != 0
    assert needle in err
    assert "Traceback" not in err + out


def test_exec_prints_one_json_result(tmp_path, capsys):
    script = tmp_path / "hello.py"
    script.write_text("print(6 * 7)\n")
    code, out, _ = run(["exec", str(script), "--timeout", "5"], capsys)
    result = json.loads(out)
    assert code == 0
    assert result["status"] == "ok" and result["stdout"].strip() == "42"
    assert {"status", "stdout", "stderr", "ms", "isolation"} <= set(result)


def test_exec_reports_failing_code_with_nonzero_exit(tmp_path, capsys):
    script = tmp_path / "bad.py"
    script.write_text("1 / 0\n")
    code, out, _ = run(["exec", str(script)], capsys)
    result = json.loads(out)
    assert code == 1 and result["status"] == "error" and "ZeroDivisionError" in result["stderr"]


def test_exec_rejects_binary_files(tmp_path, capsys):
    blob = tmp_path / "blob.py"
    blob.write_bytes(b"\xff\xfe\x00bad")
    code, _, err = run(["exec", str(blob)], capsys)
    assert code == 2 and "not UTF-8" in err


def test_models_lists_the_embedded_model_as_json(capsys):
    code, out, _ = run(["models", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0
    assert any("qwen2.5-coder-0.5b" in r["name"].lower() for r in rows)


def test_commands_are_registered_once_however_often_main_runs(capsys):
    from backend.cli import app
    from ui import cli as console

    main(["--version"])
    names = [c.name for c in app.registered_commands]
    main(["--version"])
    main(["runs", "--help"])
    console.main(["--version"])
    full = [c.name for c in console.app.registered_commands]
    console.main(["runs", "--help"])
    capsys.readouterr()
    assert [c.name for c in app.registered_commands] == names  # the list did not grow
    assert [c.name for c in console.app.registered_commands] == full
    assert len(names) == len(set(names)) and {"runs", "pairs", "solve", "train-ppm", "exec"} <= set(names)
    assert "serve" not in names  # the backend's app never reaches the web app
    assert full == [*names, "serve"]


def test_the_console_script_is_the_backend_commands_plus_serve():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {"canopy": "ui.cli:main"}


def test_serve_takes_the_web_apps_flags(tmp_path, capsys):
    """``canopy serve`` passes its arguments to ui.app's parser: one definition of the flags."""
    from ui.cli import main as canopy

    assert canopy(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: canopy serve") and "--auth-file FILE" in out and "--root-path PATH" in out
    assert canopy(["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "c.sqlite")]) == 2
    assert "--no-auth" in capsys.readouterr().err  # refused before the history is opened
    assert not (tmp_path / "c.sqlite").exists()
    assert canopy(["serve", "--port", "x"]) == 2
    assert "canopy serve: error: argument --port" in capsys.readouterr().err


@pytest.mark.parametrize(("module", "serve"), [("backend.cli", False), ("ui.cli", True)])
def test_python_m_forms(module, serve):
    import re
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "solve" in res.stdout
    assert bool(re.search(r"\bserve\b", res.stdout)) == serve


def test_every_commands_help_is_plain_terminal_text():
    """Help comes from docstrings, which use reST's double backticks; the terminal prints them
    as they are (``--html`` showed as ``--html`` in `canopy --help`)."""
    from typer.main import get_command

    from backend.cli import app

    commands = get_command(app).commands
    assert {"evolve", "export", "export-gguf", "import", "solve"} <= set(commands)
    texts = {name: [c.help or "", *(p.help or "" for p in c.params if hasattr(p, "help"))]
             for name, c in commands.items()}
    assert {name: t for name, ts in texts.items() for t in ts if "``" in t} == {}
