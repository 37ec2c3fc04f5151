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

    main(["--version"])
    names = [c.name for c in app.registered_commands]
    main(["--version"])
    main(["runs", "--help"])
    capsys.readouterr()
    assert [c.name for c in app.registered_commands] == names  # the list did not grow
    assert len(names) == len(set(names)) and {"runs", "pairs", "solve", "serve"} <= set(names)
