"""torch.save / torch.load (engine/serialization.py) against torch: tensors come back as
leaves with their values, dtype and requires_grad (no .grad, no history), inside the
containers they were saved in, from a path or a file object; weights_only (the default)
refuses other globals with torch's error, and weights_only=False loads them; a saved-tensor
hook pair can keep what backward needs on disk."""

import io
import os
import pickle
from collections import OrderedDict

from support.pairs import assert_same


class Gadget:  # a class no weights_only load allows
    pass


def test_tensors_round_trip_through_a_file_object():
    def scenario(lib, log):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        x.grad = lib.ones(2, 2)
        y = x * 2
        buffer = io.BytesIO()
        lib.save({"x": x, "y": y, "row": x[1], "more": [lib.tensor(7, dtype=lib.int16),
                  lib.tensor([True, False]), 2.5, "text", (1, 2), {3}, OrderedDict(a=1),
                  x.shape, lib.float64]}, buffer)
        buffer.seek(0)
        back = lib.load(buffer)
        for key in ("x", "y", "row"):
            log(back[key], back[key].is_leaf, back[key].grad)
        log(back["more"])
        (back["y"] * 3).sum().backward()
        log(back["y"].grad, x.grad)
    assert_same(scenario)


def test_tensors_round_trip_through_a_path(tmp_path):
    def scenario(lib, log):
        path = os.path.join(tmp_path, f"saved_by_{lib.__name__}")
        lib.save(lib.tensor(3.5, dtype=lib.float64), path)
        log(lib.load(path), lib.load(path, map_location="cpu", weights_only=True))
        log.raises(lambda: lib.load(os.path.join(tmp_path, "absent")))
    assert_same(scenario)


def test_weights_only_refuses_other_globals():
    def scenario(lib, log):
        buffer = io.BytesIO()
        lib.save([Gadget(), lib.ones(1)], buffer)
        buffer.seek(0)
        try:
            lib.load(buffer)
        except pickle.UnpicklingError as e:
            log(str(e))
        buffer.seek(0)
        gadget, ones = lib.load(buffer, weights_only=False)
        log(type(gadget).__name__, ones)
    assert_same(scenario)


def test_saved_tensor_hooks_that_keep_tensors_on_disk(tmp_path):
    def scenario(lib, log):
        names = []

        def pack(t):
            name = os.path.join(tmp_path, f"{lib.__name__}_{len(names)}")
            lib.save(t, name)
            names.append(name)
            return name

        with lib.autograd.graph.saved_tensors_hooks(pack, lambda name: lib.load(name)):
            a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
            y = a * a.exp()
            log(y.grad_fn._saved_self, len(names))
            y.sum().backward()
        log(a.grad)
    assert_same(scenario)
