"""Random autograd programs (Hypothesis): a handful of ops over broadcasting leaves, drawn
as steps that ``build`` runs with either library (torch or the engine). Used by
tests/test_random_graphs.py (engine vs torch) and tests/test_graph_snapshots.py (the same
programs continued from a snapshot)."""

from __future__ import annotations

from hypothesis import strategies as st

LEAF_SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]

UNARY = {
    "tanh": lambda a: a.tanh(),
    "exp_tanh": lambda a: a.tanh().exp(),
    "sin": lambda a: a.sin(),
    "square": lambda a: a * a,
    "pow3": lambda a: a ** 3,
    "neg": lambda a: -a,
    "sigmoid": lambda a: a.sigmoid(),
    "sum0_keepdim": lambda a: a.sum(0, keepdim=True) if a.dim() else a,
    "mean": lambda a: a.mean(),
    "scale": lambda a: a * 1.5,
    "add_const": lambda a: a + 0.5,
    "rsub": lambda a: 2 - a,
    "sqrt_pos": lambda a: (a * a + 1).sqrt(),
}
# ops whose nodes are multi-output, views, reductions over a dim, in place, or select:
# graph-level bookkeeping (unused outputs, output_nr, version counters) gets exercised
STRUCTURAL = {
    "split_first": lambda a: a.split(1, dim=-1)[0] if a.dim() else a,
    "unbind_mix": lambda a: (a.unbind(-1)[-1] * 2).unsqueeze(-1) if a.dim() else a,
    "chunk_last": lambda a: a.chunk(2, dim=0)[-1] if a.dim() else a,
    "slice": lambda a: a[..., :1] if a.dim() else a,
    "select_keep": lambda a: a[0].unsqueeze(0) if a.dim() else a,
    "softmax": lambda a: a.softmax(-1) if a.dim() else a.exp(),
    "log_softmax": lambda a: a.log_softmax(-1) if a.dim() else a.sin(),
    "max_keepdim": lambda a: a.max(dim=-1, keepdim=True).values if a.dim() else a,
    "where": lambda a: (a > 0).float() * a + (a <= 0).float() * a * 0.1,
    "clamp": lambda a: a.clamp(-1.0, 1.0),
    "abs": lambda a: a.abs(),
    "cumsum": lambda a: a.cumsum(-1) if a.dim() else a,
    "flip": lambda a: a.flip(0) if a.dim() else a,
    "inplace_mul": lambda a: (a * 1).mul_(2),
    "inplace_exp_add": lambda a: a.exp().add_(1),
    "clone": lambda a: a.clone(),
    "matmul_gram": lambda a: a @ a.mT if a.dim() == 2 else a,
    "edit_through_view": lambda a: _edit_through_view(a),
    "view_after_base_edit": lambda a: _view_after_base_edit(a),
    "zero_first_row": lambda a: _zero_first(a),
    "setitem_col": lambda a: _setitem_col(a),
}


def _edit_through_view(a):
    y = a * 1
    if y.dim():
        y[..., :1].mul_(2)
    return y


def _view_after_base_edit(a):
    y = a.exp()
    v = y[0] if y.dim() else y
    y.mul_(0.5)
    return v


def _zero_first(a):
    y = a + 0
    if y.dim():
        y[0].zero_()
    return y


def _setitem_col(a):
    y = a * 2
    if y.dim():
        y[..., -1] = a.sum() if a.dim() < 2 else a[..., 0]
    return y
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: a.maximum(b + 0.25),  # offset: no ties
}


def _draw_steps(draw, n_leaves, n_ops, one_input, kind, table):
    """``n_ops`` steps, each on the leaves and the steps before it: an op of ``table``
    (tagged ``kind``) on one input where ``one_input`` draws true, else a BINARY op; then
    one or two of the steps as roots. Returns (steps, roots, leaves + steps)."""
    steps = []
    for k in range(n_ops):
        available = n_leaves + k
        if draw(one_input):
            steps.append((kind, draw(st.sampled_from(sorted(table))),
                          draw(st.integers(0, available - 1))))
        else:
            steps.append(("b", draw(st.sampled_from(sorted(BINARY))),
                          draw(st.integers(0, available - 1)),
                          draw(st.integers(0, available - 1))))
    total = n_leaves + n_ops
    roots = sorted(set(draw(st.lists(st.integers(n_leaves, total - 1), min_size=1,
                                     max_size=2))))
    return steps, roots, total


@st.composite
def programs(draw):
    n_leaves = draw(st.integers(1, 3))
    leaves = [draw(st.sampled_from(LEAF_SHAPES)) for _ in range(n_leaves)]
    n_ops = draw(st.integers(1, 7))
    steps, roots, total = _draw_steps(draw, n_leaves, n_ops, st.booleans(), "u", UNARY)
    calls = draw(st.lists(st.booleans(), min_size=1, max_size=3))  # retain_graph per call
    retain = draw(st.sampled_from([None] + list(range(n_leaves, total))))
    seed = draw(st.integers(0, 2**31 - 1))
    return leaves, steps, roots, calls, retain, seed


def build(leaves, steps):
    """Every node of the program's graph, leaves first."""
    nodes = list(leaves)
    for step in steps:
        if step[0] == "b":
            nodes.append(BINARY[step[1]](nodes[step[2]], nodes[step[3]]))
        else:
            table = UNARY if step[0] == "u" else STRUCTURAL
            nodes.append(table[step[1]](nodes[step[2]]))
    return nodes


@st.composite
def structural_programs(draw):
    leaves, _, roots, calls, retain, seed = draw(programs())
    n_leaves = len(leaves)
    n_ops = draw(st.integers(1, 6))
    steps, roots, total = _draw_steps(draw, n_leaves, n_ops, st.integers(0, 2), "s",
                                      STRUCTURAL)
    retain = draw(st.sampled_from([None] + list(range(n_leaves, total))))
    return leaves, steps, roots, calls, retain, seed


def start(lib, program, rng):
    """(leaves, nodes) of ``program`` in ``lib``: leaves drawn from ``rng``, the steps
    built, the chosen node's grad retained."""
    leaves_shapes, steps, _, _, retain, _ = program
    leaves = [lib.tensor(rng.uniform(-1.5, 1.5, s), requires_grad=True)
              for s in leaves_shapes]
    nodes = build(leaves, steps)
    if retain is not None and nodes[retain].requires_grad:
        nodes[retain].retain_grad()
    return leaves, nodes
