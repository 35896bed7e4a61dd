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


def test_readme_says_how_to_get_torchs_cpu_build():
    """Elsewhere, a plain `pip install torch` is the multi-GB CUDA build: the README gives
    the CPU wheel index, for the version the test extra pins."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]
    (pin,) = [d for d in test_extra if d.startswith("torch")]
    assert f"pip install {pin} --index-url https://download.pytorch.org/whl/cpu" in section


def test_readme_names_the_system_packages_ci_installs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    ci = (ROOT / ".ci" / "run").read_text()
    packages = {p for group in re.findall(r"missing\+=\(([^)]*)\)", ci) for p in group.split()}
    assert packages >= {"graphviz", "nodejs", "redis-server"}
    for package in packages:
        assert package in section, f"README does not name {package!r}, which .ci/run installs"
    assert "npm ci" in ci and "npm ci" in section


def test_docker_build_stage_makes_a_wheel_with_the_compiled_pieces(tmp_path):
    """The Dockerfile's build stage, run here: copy what it COPYs, run its `pip wheel`, and
    the wheel holds the compiled engine._arraycache and engine._gctrack (the runtime image
    has no compiler)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    build = dockerfile.split("\nFROM ", 2)[1]  # the build stage
    src = tmp_path / "src"
    src.mkdir()
    for line in build.splitlines():
        if line.startswith("COPY "):
            *names, dest = line.split()[1:]
            for name in names:
                target = src / (pathlib.Path(name).name if dest == "./" else dest)
                if (ROOT / name).is_dir():
                    shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns(
                        "__pycache__", "*.so"))
                else:
                    shutil.copy(ROOT / name, target)
    assert "RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir " \
        "/tmp/wheels ." in build
    # --no-build-isolation: the build requirements (setuptools, numpy) are installed here,
    # as in the image (from docker/requirements.lock and docker/build-requirements.lock)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path / "wheels"), "."],
                   cwd=src, check=True)
    (wheel,) = (tmp_path / "wheels").glob("autograd_service-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("_arraycache", "_gctrack"):
        assert any(n.startswith(f"engine/{module}") and n.endswith(".so") for n in names)
    assert "service/static/" in "".join(names)
    assert "service/http/example_answers.json" in names  # the examples' answers (data)
