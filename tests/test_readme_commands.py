"""The README's two commands are all a newcomer needs: CI runs the test command verbatim,
and the serve command names a console script the package declares."""

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_two_commands():
    serve, test = _commands()
    assert "autograd-service" in serve
    assert "pytest" in test


def test_ci_runs_the_readme_test_command():
    _, test = _commands()
    ci = (ROOT / ".ci" / "run").read_text()
    # the README says `python3 -m pytest ...`; CI may spell pip/python as python3 -m ...
    normalized = test.replace("pip install", "python3 -m pip install -q")
    assert normalized in ci, f"{normalized!r} not in .ci/run"


def test_serve_command_is_a_declared_script():
    serve, _ = _commands()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert serve.split("&&")[-1].strip().split()[0] in scripts
