"""einsum as ATen computes it: the equation parsed into labels, each operand's repeated
labels taken as diagonals and its dims permuted into one order, then the operands
multiplied left to right as bmm over (batch, left, summed, right) groups."""

from ..errors import OpError
from .movement import reshape
from .samples import Sample, explicit, rand
from .table import F, op

_LETTERS = 26
_ELLIPSIS = 2 * _LETTERS


def _subscript(ch) -> int:
    return ord(ch) - ord("A") if ch.isupper() else ord(ch) - ord("a") + _LETTERS


def _subscript_at(equation_index, ch) -> int:
    """The label of a letter of the equation, ATen's error for anything else."""
    if not (ch.isascii() and ch.isalpha()):
        raise OpError(f"einsum(): invalid subscript given at index {equation_index} in the "
                      "equation string, subscripts must be in [a-zA-Z]")
    return _subscript(ch)


def _symbols(text):
    """(index, symbol) for each symbol of one side of the equation: ``...``, a lone ``.``,
    ``,`` or a letter (spaces skipped)."""
    i = 0
    while i < len(text):
        if text.startswith("...", i):
            yield i, "..."
            i += 3
            continue
        if text[i] != " ":
            yield i, text[i]
        i += 1


# ATen's errors at a '.': an operand's (of its index) and the output's
_OPERAND_DOT = ("einsum(): found '.' for operand {} for which an ellipsis was already found",
                "einsum(): found '.' for operand {} that is not part of any ellipsis")
_OUTPUT_DOT = ("einsum(): found '.' for output but an ellipsis (...) was already found",
               "einsum(): found '.' for output that is not part of any ellipsis (...)")


def _check_ellipsis(symbol, seen, errors, *where) -> None:
    """At a '.': ATen's error unless ``symbol`` is the part's first ``...``."""
    if seen:
        raise OpError(errors[0].format(*where))
    if symbol != "...":
        raise OpError(errors[1].format(*where))


def _label(s) -> str:
    return chr(s + ord("A")) if s < _LETTERS else chr(s - _LETTERS + ord("a"))


def _einsum_parse(equation, shapes):
    """ATen's einsum parsing: labels per operand, and each label's place in the aligned
    shape (output dims first, then the contracted ones). Returns (op_labels, perm_index,
    out_num_dim, label_perm_index, ell_index, ell_num_dim)."""
    num_ops = len(shapes)
    if num_ops == 0:
        raise OpError("einsum(): must provide at least one operand")
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    op_labels = _parse_operands(lhs, num_ops)
    count, ell_num_dim = _count_labels(op_labels, shapes)
    perm_of = [-1] * _ELLIPSIS
    perm_index, ell_index, ell_in_output = 0, 0, False
    if arrow < 0:  # implicit output: the ellipsis, then labels seen once, in label order
        perm_index, ell_in_output = ell_num_dim, True
        for s in range(_ELLIPSIS):
            if count[s] == 1:
                perm_of[s] = perm_index
                perm_index += 1
    else:
        perm_index, ell_index, ell_in_output = _parse_output(
            equation[arrow + 2:], len(lhs) + 2, count, ell_num_dim, perm_of)
    out_num_dim = perm_index
    if not ell_in_output:
        ell_index = perm_index
        perm_index += ell_num_dim
    for s in range(_ELLIPSIS):
        if count[s] > 0 and perm_of[s] == -1:
            perm_of[s] = perm_index
            perm_index += 1
    return op_labels, perm_index, out_num_dim, perm_of, ell_index, ell_num_dim


def _parse_operands(lhs, num_ops) -> list:
    """The left-hand side: each operand's labels (_ELLIPSIS for ``...``)."""
    op_labels = [[] for _ in range(num_ops)]
    cur, ell_in_input = 0, False
    for i, symbol in _symbols(lhs):
        if symbol in (".", "..."):
            _check_ellipsis(symbol, ell_in_input, _OPERAND_DOT, cur)
            op_labels[cur].append(_ELLIPSIS)
            ell_in_input = True
        elif symbol == ",":
            cur += 1
            if cur >= num_ops:
                raise OpError("einsum(): fewer operands were provided than specified in the "
                              "equation")
            ell_in_input = False
        else:
            op_labels[cur].append(_subscript_at(i, symbol))
    if cur != num_ops - 1:
        raise OpError("einsum(): more operands were provided than specified in the equation")
    return op_labels


def _count_labels(op_labels, shapes) -> tuple:
    """How often each label appears, and how many dims the ellipsis covers, with the
    operands' label counts checked against their shapes."""
    count = [0] * _ELLIPSIS
    ell_num_dim = 0
    for k, (labels, shape) in enumerate(zip(op_labels, shapes)):
        nlabels, has_ell = len(labels), _ELLIPSIS in labels
        for s in labels:
            if s == _ELLIPSIS:
                nlabels -= 1
            else:
                count[s] += 1
        if has_ell:
            ell_num_dim = max(ell_num_dim, len(shape) - nlabels)
        if (nlabels > len(shape)) if has_ell else (nlabels != len(shape)):
            raise OpError(
                f"einsum(): the number of subscripts in the equation ({nlabels}"
                + (") is more than the number of dimensions (" if has_ell else
                   ") does not match the number of dimensions (")
                + f"{len(shape)}) for operand {k}"
                + ("" if has_ell else " and no ellipsis was given"))
    return count, ell_num_dim


def _parse_output(rhs, offset, count, ell_num_dim, perm_of) -> tuple:
    """An explicit right-hand side (``offset``: where it starts in the equation): each
    output label's place, written into ``perm_of``. Returns (perm_index, ell_index,
    ell_in_output)."""
    perm_index, ell_index, ell_in_output = 0, 0, False
    for i, symbol in _symbols(rhs):
        if symbol in (".", "..."):
            _check_ellipsis(symbol, ell_in_output, _OUTPUT_DOT)
            ell_index, ell_in_output = perm_index, True
            perm_index += ell_num_dim
        else:
            s = _subscript_at(offset + i, symbol)
            if count[s] == 0 or perm_of[s] != -1:
                raise OpError(f"einsum(): output subscript {symbol}" + (
                    " appears more than once in the output" if perm_of[s] > -1 else
                    " does not appear in the equation for any input operand"))
            perm_of[s] = perm_index
            perm_index += 1
    return perm_index, ell_index, ell_in_output


def _einsum_align(equation, shapes):
    """Shape-only walk of the alignment step: the aligned shapes and dim counts, with ATen's
    size checks."""
    op_labels, perm_index, out_num_dim, perm_of, ell_index, ell_num_dim = _einsum_parse(
        equation, shapes)
    label_size = [1] * _ELLIPSIS
    ell_sizes = [1] * ell_num_dim
    dim_counts = [0] * perm_index
    plans = []  # per operand: list of steps, applied by _einsum
    aligned = []
    for k, (labels, shape) in enumerate(zip(op_labels, shapes)):
        shape = list(shape)
        permutation = [-1] * perm_index
        steps = []
        dim = 0
        for s in labels:
            if s == _ELLIPSIS:
                nd = len(shapes[k]) - (len(labels) - 1)
                for j in range(ell_num_dim - nd, ell_num_dim):
                    if shape[dim] != 1:
                        if ell_sizes[j] != 1 and ell_sizes[j] != shape[dim]:
                            raise OpError(f"einsum(): dimension {dim} covered by ellipsis in "
                                          f"operand {k}has size {shape[dim]} which does not "
                                          "broadcast with previously seen ellipsis with size "
                                          f"{ell_sizes[j]} for the respective dimension")
                        ell_sizes[j] = shape[dim]
                        dim_counts[ell_index + j] += 1
                    permutation[ell_index + j] = dim
                    dim += 1
            elif permutation[perm_of[s]] == -1:
                if shape[dim] != 1:
                    if label_size[s] != 1 and label_size[s] != shape[dim]:
                        raise OpError(f"einsum(): subscript {_label(s)} has size {shape[dim]} "
                                      f"for operand {k} which does not broadcast with "
                                      f"previously seen size {label_size[s]}")
                    label_size[s] = shape[dim]
                    dim_counts[perm_of[s]] += 1
                permutation[perm_of[s]] = dim
                dim += 1
            else:  # repeated label: diagonal, moved back to the first occurrence
                prev = permutation[perm_of[s]]
                if shape[dim] != shape[prev]:
                    raise OpError(f"einsum(): subscript {_label(s)} is repeated for operand "
                                  f"{k} but the sizes don't match, {shape[dim]} != "
                                  f"{shape[prev]}")
                steps.append(("diagonal", prev, dim))
                n = shape[prev]
                del shape[dim]
                del shape[prev]
                shape.append(n)
                shape.insert(prev, shape.pop())
        for idx in range(perm_index):
            if permutation[idx] == -1:
                steps.append(("unsqueeze", dim))
                shape.insert(dim, 1)
                permutation[idx] = dim
                dim += 1
        steps.append(("permute", tuple(permutation)))
        plans.append(steps)
        aligned.append(tuple(shape[p] for p in permutation))
    return plans, aligned, dim_counts, perm_index, out_num_dim


def _einsum_shape(equation, tensors):
    _, aligned, _, perm_index, out_num_dim = _einsum_align(equation, tensors)
    out = []
    for d in range(out_num_dim):
        sizes = [a[d] for a in aligned if a[d] != 1]
        if any(s != sizes[0] for s in sizes):
            raise OpError("einsum(): operands do not broadcast with remapped shapes "
                          "[original->remapped]: " + " ".join(
                              f"[{', '.join(map(str, t))}]->[{', '.join(map(str, a))}]"
                              for t, a in zip(tensors, aligned)))
        out.append(sizes[0] if sizes else 1)
    return tuple(out)


def _sumproduct_pair(left, right, sum_dims):
    """ATen's sumproduct_pair (keepdim=True): multiply and sum ``sum_dims`` via one bmm."""
    if not sum_dims:
        return F.mul(left, right)
    ndim = len(left.shape)
    lro, lo, ro = [], [], []
    lro_size = lo_size = ro_size = sum_size = 1
    for i in range(ndim):
        sl, sr = left.shape[i] != 1, right.shape[i] != 1
        if i in sum_dims:
            if sl and sr:
                if left.shape[i] != right.shape[i]:
                    raise OpError("non-broadcast dimensions must match")
                sum_size *= left.shape[i]
            elif sl:
                left = F.sum(left, [i], True)
            elif sr:
                right = F.sum(right, [i], True)
        elif sl and sr:
            if left.shape[i] != right.shape[i]:
                raise OpError("non-broadcast dimensions must match")
            lro.append(i)
            lro_size *= left.shape[i]
        elif sl:
            lo.append(i)
            lo_size *= left.shape[i]
        else:
            ro.append(i)
            ro_size *= right.shape[i]
    out_size = ([left.shape[d] for d in lro] + [left.shape[d] for d in lo]
                + [1] * len(sum_dims) + [right.shape[d] for d in ro])
    lperm = lro + lo + list(sum_dims) + ro
    rperm = lro + list(sum_dims) + ro + lo
    operm = [-1] * len(out_size)
    for i, d in enumerate(lro + lo + list(sum_dims) + ro):
        operm[d] = i
    left = reshape(F.permute(left, tuple(lperm)), (lro_size, lo_size, sum_size))
    right = reshape(F.permute(right, tuple(rperm)), (lro_size, sum_size, ro_size))
    result = F.bmm(left, right)
    return F.permute(F.view(result, tuple(out_size)), tuple(operm))


def _einsum(equation, tensors):
    tensors = list(tensors)
    plans, _, dim_counts, perm_index, out_num_dim = _einsum_align(
        equation, [tuple(t.shape) for t in tensors])
    _einsum_shape(equation, [tuple(t.shape) for t in tensors])
    ops = []
    for t, steps in zip(tensors, plans):
        for step in steps:
            if step[0] == "diagonal":
                _, prev, dim = step
                t = F.diagonal(t, 0, prev, dim)
                n = len(t.shape)
                order = [i for i in range(n - 1)]
                order.insert(prev, n - 1)  # movedim(-1, prev)
                t = F.permute(t, tuple(order))
            elif step[0] == "unsqueeze":
                t = F.unsqueeze(t, step[1])
            else:
                t = F.permute(t, step[1])
        ops.append(t)
    while len(ops) > 1:  # left to right, as ATen without a contraction path
        a, b = ops[0], ops[1]
        del ops[:2]
        sum_dims, a_sum, b_sum = [], [], []
        for dim in range(out_num_dim, perm_index):
            if a.shape[dim] != 1 and b.shape[dim] != 1:
                dim_counts[dim] -= 1
                if dim_counts[dim] == 1:
                    sum_dims.append(dim)
                    dim_counts[dim] = 0
            elif dim_counts[dim] == 1:
                if a.shape[dim] != 1:
                    a_sum.append(dim)
                    dim_counts[dim] = 0
                elif b.shape[dim] != 1:
                    b_sum.append(dim)
                    dim_counts[dim] = 0
        if a_sum:
            a = F.sum(a, a_sum, True)
        if b_sum:
            b = F.sum(b, b_sum, True)
        ops.insert(0, _sumproduct_pair(a, b, sum_dims))
    if perm_index - out_num_dim > 0:
        if len(tensors) > 1:  # contracted dims are all 1 by now: view them away
            return F.view(ops[0], tuple(ops[0].shape[:out_num_dim]))
        return F.sum(ops[0], list(range(out_num_dim, perm_index)))
    return ops[0]


op("einsum(str equation, Tensor[] tensors) -> Tensor", None, composite=True, method=False,
   forward=_einsum, shape=_einsum_shape,
   samples=explicit(
       lambda r: Sample(("ij,jk->ik", [rand(r, 2, 3), rand(r, 3, 4)])),
       lambda r: Sample(("ij,jk", [rand(r, 2, 3), rand(r, 3, 4)])),
       lambda r: Sample(("bij,bjk->bik", [rand(r, 2, 2, 3), rand(r, 2, 3, 4)])),
       lambda r: Sample(("i,i->", [rand(r, 3), rand(r, 3)])),
       lambda r: Sample(("i,j->ij", [rand(r, 3), rand(r, 4)])),
       lambda r: Sample(("ij,kj->ik", [rand(r, 2, 3), rand(r, 4, 3)])),
       lambda r: Sample(("ij->ji", [rand(r, 2, 3)])),
       lambda r: Sample(("ij->", [rand(r, 2, 3)])),
       lambda r: Sample(("ii->i", [rand(r, 3, 3)])),
       lambda r: Sample(("ii", [rand(r, 3, 3)])),
       lambda r: Sample(("...ij,...jk->...ik", [rand(r, 2, 2, 3), rand(r, 3, 4)])),
       lambda r: Sample(("ij,ij->", [rand(r, 2, 3), rand(r, 2, 3)])),
       lambda r: Sample(("ij,jk,kl->il", [rand(r, 2, 3), rand(r, 3, 4), rand(r, 4, 2)])),
       lambda r: Sample(("bn,anm,bm->ba", [rand(r, 2, 3), rand(r, 2, 3, 4), rand(r, 2, 4)]))))
