"""The seed tutorials' code, run under torch and under the engine: same printed text.

Each snippet runs twice with ``exec``: once with ``torch`` bound to the real torch and once
bound to ``engine``. Everything it prints, and the exception it ends with (builtin class
and message), must be identical once object addresses (``at 0x...``) are masked.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import re
import warnings

import pytest
import torch
from support.seed_examples import SEEDS
from support.semantics_harness import builtin_class

import engine

_IMPORT = re.compile(r"^(\s*)(import torch\b.*|from torch(\.autograd)? import (.*))$")


def _rebind_imports(code: str) -> str:
    """``import torch`` / ``from torch[.autograd] import a, b`` -> names bound from the
    ``torch`` already in the globals (the real one or the engine)."""
    lines = []
    for line in code.splitlines():
        m = _IMPORT.match(line.split("#")[0].rstrip())
        if m is None:
            lines.append(line)
            continue
        indent, _, sub, names = m.groups()
        if names is None:
            lines.append(indent + "pass")
            continue
        space = "torch.autograd" if sub else "torch"
        binds = "; ".join(f"{n.strip()} = {space}.{n.strip()}" for n in names.split(","))
        lines.append(indent + binds)
    return "\n".join(lines) + "\n"


def run_snippet(code: str, module) -> str:
    out = io.StringIO()
    grad_mode = module.is_grad_enabled()  # a snippet that stops early must not leak its mode
    env = {"torch": module, "__builtins__": builtins, "__name__": "__seed__"}
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(compile(_rebind_imports(code), "<seed>", "exec"), env)
        except Exception as exc:  # the snippet's own error is part of its output
            print(f"!! {builtin_class(exc)}: {exc}")
        finally:
            module.set_grad_enabled(grad_mode)
    return out.getvalue()


def mask(text: str, digits: bool = False) -> str:
    text = re.sub(r" at 0x[0-9a-fA-F]+", " at 0x?", text)
    if digits:
        text = re.sub(r"\d", "#", text)
    return text


@pytest.mark.parametrize("name,code,note", SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_example(name, code, note):
    if note.startswith("fragment"):
        pytest.skip(note)
    torch.manual_seed(0)
    engine.manual_seed(0)
    expected = run_snippet(code, torch)
    got = run_snippet(code, engine)
    random = note == "random"
    assert mask(got, random) == mask(expected, random)


def test_every_seed_file_is_transcribed():
    """Each seed tutorial that has code contributes at least one example."""
    import pathlib
    seeds = pathlib.Path("/work/shared/seeds")
    if not seeds.is_dir():
        pytest.skip("seed tutorials not present")
    have = {name[:3] for name, _, _ in SEEDS}
    for path in sorted(seeds.glob("*.txt")):
        text = path.read_text()
        if re.search(r"import torch|=\s*torch\.", text):  # has code, not only prose
            assert path.name[:3] in have, path.name


def test_manual_seed_repeats_random_draws_like_torch():
    """After manual_seed(s) the unseeded draws repeat (and differ for another s), as with
    torch's default generator; the seed tutorials' random examples rely on it."""
    def draws(mod, seed):
        mod.manual_seed(seed)
        return [mod.rand(3), mod.randn(2, 2), mod.ones(4).uniform_(-1, 1),
                mod.zeros(2).normal_(0, 1)]
    for mod in (torch, engine):
        a, b, c = draws(mod, 0), draws(mod, 0), draws(mod, 1)
        for x, y, z in zip(a, b, c):
            assert x.tolist() == y.tolist() and x.tolist() != z.tolist(), mod.__name__
