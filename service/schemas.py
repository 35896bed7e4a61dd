"""Request and response bodies (pydantic), with a description and an example on every field:
they are the OpenAPI contract that clients are generated from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

CONTRACT_REF = "x-contract-ref"


def _published(name: str, validated=Any):
    """``validated`` (by default any value: wire and graphs read it and give the precise
    errors), published as the schema ``name`` of service/http/contract.py (which turns the
    marker into a $ref: pydantic resolves a $ref it does not know, and fails)."""
    return Annotated[validated, WithJsonSchema({CONTRACT_REF: name})]


# number | nested list | {"data","dtype"} | {"dtype","shape","b64"} | binary reference
TensorValue = _published("TensorValue")
Argument = _published("Argument")
_TENSOR_DOC = ("A tensor value: a JSON number or nested list (float32 unless a dtype says; "
               "non-finite numbers as \"NaN\", \"Infinity\", \"-Infinity\"), "
               "{\"data\", \"dtype\"}, {\"dtype\", \"shape\", \"b64\"} (raw little-endian "
               "C-order bytes), or {\"dtype\", \"shape\", \"binary_data_size\"} in a binary body.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Node(Strict):
    """One node of a graph: binds ``id`` to the result of ``op``."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128,
                    description="The name this node binds, like a Python variable; re-using "
                    "an id rebinds it.", examples=["xy"])
    op: str = Field(max_length=64, description="A torch function name (GET /ops), 'tensor' "
                    "for data, or a pseudo-op listed by GET /ops (Tensor methods such as "
                    "detach, requires_grad_, retain_grad, to, add_; T, mT, index, assign, "
                    "getitem).", examples=["add"])
    args: list[Argument] = Field(default_factory=list, json_schema_extra={"default": []},
                            description="Positional arguments: a string is a reference "
                            "('x' or 'x.grad'), a number or tensor value is a constant.",
                            examples=[["x", "y"]])
    kwargs: dict[str, Argument] = Field(default_factory=dict, json_schema_extra={"default": {}},
                                   description="Keyword arguments.",
                                   examples=[{"dim": 0, "keepdim": True}])
    data: TensorValue = Field(None, description="For op 'tensor': the value. " + _TENSOR_DOC,
                              examples=[[1, 2, 3]])
    requires_grad: bool | None = Field(None, description="Creation ops only: make a leaf that "
                                       "requires grad (floating dtypes only).", examples=[True])
    dtype: Literal["float32", "float64", "int64", "bool"] | None = Field(
        None, description="Creation ops only: the dtype.", examples=["float32"])
    seed: int | None = Field(None, description="rand/randn only: the generator seed.",
                             examples=[0])
    grad_mode: bool | Literal["inference"] = Field(
        True, description="false: computed as under torch.no_grad(); \"inference\": as under "
        "torch.inference_mode() (its new tensors are inference tensors).", examples=[True])


class Graph(Strict):
    nodes: list[Node] = Field(description="Nodes in order; each may use ids bound before it.",
                              examples=[[{"id": "x", "op": "tensor", "data": [1, 2, 3],
                                          "requires_grad": True},
                                         {"id": "y", "op": "mul", "args": ["x", 2]},
                                         {"id": "z", "op": "mean", "args": ["y"]}]])


GraphField = Field(None, description="The graph: {\"nodes\": [...]}. With a session, these "
                   "nodes are appended to it first.",
                   examples=[{"nodes": [{"id": "x", "op": "tensor", "data": [1, 2, 3],
                                         "requires_grad": True},
                                        {"id": "z", "op": "mean", "args": ["x"]}]}])
SourceField = Field(None, max_length=1_000_000, description="The graph as a small safe subset "
                    "of PyTorch syntax (parsed, never evaluated), instead of graph.",
                    examples=["x = tensor([1., 2., 3.], requires_grad=True)\ny = x * 2\n"
                              "z = y.mean()"])
SessionField = Field(None, max_length=200, description="Work inside this stored session.",
                     examples=["s_3q2Zk9..."])
EncodingField = Field("list", description="How response tensors are written: nested lists, "
                      "base64, or the binary extension (application/octet-stream answer).",
                      examples=["list"])
ReturnGraphField = Field(False, description="true: include graph metadata (grad_fn, "
                         "next_functions...) in the answer as 'graph'. 'dot', 'svg' or "
                         "'json': that too, and a torchviz-style drawing of the graph (after "
                         "the call, with gradient norms) as 'picture'; 'svg' needs Graphviz on "
                         "the server (406 when it is missing).", examples=[True])
DetectAnomalyField = Field(False, description="torch.autograd.set_detect_anomaly(True) for this "
                           "call: a backward function returning NaN fails (422) with "
                           "PyTorch's text, and the problem names the node (node, op, grad_fn, "
                           "output, input, forward_node).", examples=[False])
Roots = _published("Ids", str | list[str])
ReturnGraph = _published("ReturnGraph", bool | Literal["dot", "svg", "json"])
Seeds = _published("Seeds")  # one seed (tensor value | reference | null) or one per root
# /gradcheck and /functional/*: the function is a session's graph, at its current values
CheckSessionField = Field(None, max_length=200, description="Use this session's graph (every "
                          "node sent so far; `graph` nodes are added for this call only), at "
                          "its current values of `inputs`.", examples=["s_3q2Zk9..."])


class BackwardRequest(Strict):
    """torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)."""

    graph: Graph | None = GraphField
    source: str | None = SourceField
    session: str | None = SessionField
    tensors: Roots = Field(description="The roots: an id or a list of ids.",
                           examples=[["out"]])
    grad_tensors: Seeds = Field(None, description="One seed per root: a tensor value, a "
                                "reference ('v', as in y.backward(v)), or null for a "
                                "one-element root. With a single root id, the seed itself.",
                                examples=[[[1, 1, 1]]])
    inputs: Roots | None = Field(None, description="Accumulate only into these ids.",
                                 examples=[["x"]])
    retain_graph: bool | None = Field(None, description="Keep saved tensors for another "
                                      "backward; defaults to create_graph.", examples=[False])
    create_graph: bool = Field(False, description="Record the backward pass itself, for "
                               "higher-order derivatives.", examples=[False])
    retain_grad: list[str] = Field(default_factory=list, json_schema_extra={"default": []},
                                   description="Non-leaf ids whose .grad to keep and "
                                   "report under 'retained'.", examples=[["xy"]])
    hooks: dict[str, str] = Field(default_factory=dict, json_schema_extra={"default": {}},
                                  description="Gradient hooks for this call: id -> "
                                  "expression over `grad` whose value replaces the gradient "
                                  "(numbers, grad, + - * / ** @, op calls).",
                                  examples=[{"xy": "grad * 0.5"}])
    detect_anomaly: bool = DetectAnomalyField
    encoding: Literal["list", "base64", "binary"] = EncodingField
    return_graph: ReturnGraph = ReturnGraphField


class GradRequest(Strict):
    """torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
    allow_unused)."""

    graph: Graph | None = GraphField
    source: str | None = SourceField
    session: str | None = SessionField
    outputs: Roots = Field(description="The outputs: an id or a list of ids.",
                           examples=[["out"]])
    inputs: Roots = Field(description="Differentiate with respect to these ids.",
                          examples=[["x", "y"]])
    grad_outputs: Seeds = Field(None, description="One seed per output (tensor value, "
                                "reference, or null for a one-element output).",
                                examples=[None])
    retain_graph: bool | None = Field(None, description="Defaults to create_graph.",
                                      examples=[False])
    create_graph: bool = Field(False, description="Return gradients with a graph of their own.",
                               examples=[False])
    allow_unused: bool | None = Field(None, description="Unused inputs give null instead of an "
                                      "error.", examples=[False])
    is_grads_batched: bool = Field(False, description="As torch: the first dimension of "
                                   "each grad_outputs seed is a batch dimension; one VJP per "
                                   "row over one retained forward, results stacked (batch + "
                                   "input shape): Jacobian rows or per-sample gradients in "
                                   "one request.", examples=[False])
    as_: list[str] | None = Field(None, alias="as", description="Ids to bind the results to "
                                  "in the session, one per input (so a create_graph result "
                                  "can be differentiated again).", examples=[["dx"]])
    detect_anomaly: bool = DetectAnomalyField
    encoding: Literal["list", "base64", "binary"] = EncodingField
    return_graph: ReturnGraph = ReturnGraphField


class SessionCreate(Strict):
    graph: Graph | None = GraphField
    source: str | None = SourceField
    encoding: Literal["list", "base64", "binary"] = EncodingField


# ---------------------------------------------------------------------------- answers

_T = {"shape": [3], "dtype": "float32", "data": [2.0, 4.0, 6.0]}
_SESSION = {"id": "s_3q2Zk9...", "expires_at": "2026-01-01T00:00:00Z", "graph_retained": True}
_GRAPH = {"nodes": [{"id": "xy", "op": "add", "shape": [3], "dtype": "float32",
                     "requires_grad": True, "is_leaf": False, "retains_grad": True,
                     "grad_fn": "AddBackward0",
                     "next_functions": [["AccumulateGrad", "x", 0], ["AccumulateGrad", "y", 0]]}]}

class TensorOut(BaseModel):
    shape: list[int] = Field(description="The shape.", examples=[[3]])
    dtype: str = Field(description="float32, float64, int64 or bool.", examples=["float32"])
    data: _published("TensorElements") = Field(None, description="Nested lists (encoding "
                                               "list).",
                      examples=[[2.0, 4.0, 6.0]])
    b64: str | None = Field(None, description="Raw little-endian bytes (encoding base64).",
                            examples=[None])
    binary_data_size: int | None = Field(None, description="Bytes in the binary part "
                                         "(encoding binary).", examples=[None])


class NodeInfo(BaseModel):
    id: str = Field(description="The client's id, or a server id starting with %.",
                    examples=["xy"])
    op: str | None = Field(description="The op of the node that made it (null for unnamed).",
                           examples=["add"])
    shape: list[int] = Field(description="The shape.", examples=[[3]])
    dtype: str = Field(description="The dtype.", examples=["float32"])
    requires_grad: bool = Field(description="tensor.requires_grad", examples=[True])
    is_leaf: bool = Field(description="tensor.is_leaf", examples=[False])
    retains_grad: bool = Field(description="tensor.retains_grad", examples=[True])
    grad_fn: str | None = Field(description="type(tensor.grad_fn).__name__",
                                examples=["AddBackward0"])
    next_functions: list[_published("NextFunction")] | None = Field(
        description="Per input, [grad_fn name, id of its tensor, output_nr], or null where "
        "that input needs no grad; PyTorch's order.",
        examples=[[["AccumulateGrad", "x", 0], ["AccumulateGrad", "y", 0]]])


class GraphOut(BaseModel):
    nodes: list[NodeInfo] = Field(description="Every named tensor, then unnamed graph nodes.",
                                  examples=[_GRAPH["nodes"]])


class PictureTensor(BaseModel):
    id: str = Field(description="The tensor's id (\"%k\" when unnamed).", examples=["y"])
    output_nr: int = Field(description="Which output of the grad_fn it is.", examples=[0])
    shape: list[int] = Field(description="Its shape.", examples=[[3]])
    grad_norm: float | str | None = Field(None, description="The 2-norm of its retained "
                                          ".grad, if any.", examples=[None])


class PictureBox(BaseModel):
    id: str = Field(description="A leaf's tensor id, or 'fn<k>' for a grad_fn box.",
                    examples=["x"])
    kind: Literal["leaf", "grad_fn"] = Field(description="leaf (AccumulateGrad's variable) "
                                             "or grad_fn.", examples=["leaf"])
    name: str | None = Field(None, description="grad_fn boxes: type(grad_fn).__name__.",
                             examples=[None])
    shape: list[int] | None = Field(None, description="Leaves: the shape.", examples=[[3]])
    dtype: str | None = Field(None, description="Leaves: the dtype.", examples=["float32"])
    grad_norm: float | str | None = Field(None, description="Leaves: the 2-norm of .grad "
                                          "(null before any backward).", examples=[3.74])
    tensors: list[PictureTensor] | None = Field(
        None, description="grad_fn boxes: the tensors it made, {id, output_nr, shape, "
        "grad_norm} (grad_norm of a retained grad).",
        examples=[[{"id": "y", "output_nr": 0, "shape": [3], "grad_norm": None}]])
    shapes: list[list[int]] | None = Field(None, description="grad_fn boxes: output shapes.",
                                           examples=[[[3]]])


class PictureEdge(BaseModel):
    from_: str = Field(alias="from", description="The input's box.", examples=["x"])
    to: str = Field(description="The box of the grad_fn that consumes it.", examples=["fn0"])
    output_nr: int = Field(description="Which output of the input's grad_fn.", examples=[0])


class PictureOut(BaseModel):
    """A torchviz-style drawing of the graph as data (format=json)."""

    nodes: list[PictureBox] = Field(description="Leaf and grad_fn boxes.",
                                    examples=[[{"id": "x", "kind": "leaf", "shape": [3],
                                                "dtype": "float32", "grad_norm": 3.46}]])
    edges: list[PictureEdge] = Field(description="Along next_functions.",
                                     examples=[[{"from": "x", "to": "fn0", "output_nr": 0}]])


class Picture(BaseModel):
    format: Literal["dot", "svg", "json"] = Field(description="As asked by return_graph.",
                                                  examples=["dot"])
    content: str | PictureOut = Field(description="DOT or SVG text, or the drawing as data.",
                                      examples=["digraph autograd {...}"])


class SessionInfo(BaseModel):
    id: str = Field(description="The session id.", examples=["s_3q2Zk9..."])
    expires_at: str = Field(description="When it expires if left idle (UTC, RFC 3339).",
                            examples=["2026-01-01T00:00:00Z"])
    graph_retained: bool = Field(description="Whether the last walk kept its saved tensors.",
                                 examples=[True])


GraphHashField = Field(None, description="SHA-256 of the canonical node list (tensor values by "
                       "dtype, shape and bytes).", examples=["sha256:9f86d081884c7d65..."])
# The fields a walk's answer (BackwardResponse, GradResponse) ends with.
GraphOutField = Field(None, description="With return_graph.", examples=[_GRAPH])
PictureField = Field(None, description="With return_graph 'dot', 'svg' or 'json'.",
                     examples=[None])
WalkGraphHashField = Field(None, description="SHA-256 of the canonical node list (tensor values "
                           "by dtype, shape and bytes); in a session, of every node sent so "
                           "far and the values PUT since.",
                           examples=["sha256:9f86d081884c7d65..."])
SessionInfoField = Field(None, description="The stored workspace, if any.", examples=[_SESSION])


class BackwardResponse(BaseModel):
    grads: dict[str, TensorOut | None] = Field(description=".grad of every leaf that requires "
                                               "grad (null if none yet).",
                                               examples=[{"x": _T, "w": None}])
    retained: dict[str, TensorOut | None] = Field(description=".grad of retained non-leaves.",
                                                  examples=[{"xy": _T}])
    graph: GraphOut | None = GraphOutField
    picture: Picture | None = PictureField
    graph_hash: str | None = WalkGraphHashField
    session: SessionInfo | None = SessionInfoField


class GradResponse(BaseModel):
    grads: list[TensorOut | None] = Field(description="One per input, in order.",
                                          examples=[[_T, None]])
    graph: GraphOut | None = GraphOutField
    picture: Picture | None = PictureField
    graph_hash: str | None = WalkGraphHashField
    session: SessionInfo | None = SessionInfoField


class SavedTensorInfo(BaseModel):
    name: str = Field(description="The saved value's name (torch's _saved_<name>).",
                      examples=["self"])
    shape: list[int] = Field(description="Its shape.", examples=[[3]])
    dtype: str = Field(description="Its dtype.", examples=["float32"])
    bytes: int = Field(description="Its size in bytes.", examples=[12])


class NodeMemory(BaseModel):
    node: str = Field(description="The id of the tensor whose grad_fn holds them (\"%k\" "
                      "when unnamed).", examples=["y"])
    grad_fn: str = Field(description="The node's grad_fn name.", examples=["PowBackward0"])
    saved: list[SavedTensorInfo] = Field(description="What it saved for backward.",
                                         examples=[[{"name": "self", "shape": [3],
                                                     "dtype": "float32", "bytes": 12}]])


class MemoryOut(BaseModel):
    nodes: list[NodeMemory] = Field(description="Nodes still holding saved tensors.",
                                    examples=[[{"node": "y", "grad_fn": "PowBackward0",
                                                "saved": [{"name": "self", "shape": [3],
                                                           "dtype": "float32",
                                                           "bytes": 12}]}]])
    saved_bytes: int = Field(description="Bytes held by saved tensors (each array once).",
                             examples=[12])


class SessionResponse(BaseModel):
    session: SessionInfo = Field(description="The session.", examples=[_SESSION])
    grads: dict[str, TensorOut | None] | None = Field(None, description="As in /backward.",
                                                      examples=[{"x": None}])
    graph: GraphOut = Field(description="Graph metadata.", examples=[_GRAPH])
    memory: MemoryOut | None = Field(None, description="GET /sessions/{id} and /free: what "
                                     "the retained graphs hold for backward.",
                                     examples=[{"nodes": [], "saved_bytes": 0}])
    graph_hash: str = Field(description="SHA-256 of the session's canonical node list "
                            "(every node sent so far, tensor values by dtype, shape and "
                            "bytes) and of the values PUT since.",
                            examples=["sha256:9f86d081884c7d65..."])


class PutResponse(BaseModel):
    session: SessionInfo = Field(description="The session.", examples=[_SESSION])
    tensor: TensorOut = Field(description="The tensor's new value.", examples=[_T])
    graph_hash: str = Field(description="The session's graph_hash after the write (as in "
                            "SessionResponse).", examples=["sha256:9f86d081884c7d65..."])


class ProblemModel(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(title="Problem")
    type: str = Field(description="A URI reference naming the kind of problem.",
                      examples=["/problems/graph-conflict"])
    title: str = Field(description="The HTTP status phrase.", examples=["Conflict"])
    status: int = Field(description="The HTTP status.", examples=[409])
    detail: str = Field(description="What went wrong: PyTorch's own message where it has one.",
                        examples=["Trying to backward through the graph a second time ..."])
    node: str | None = Field(None, description="Engine errors about a graph node: the id of "
                             "the tensor whose grad_fn it is (\"%k\" when unnamed).",
                             examples=["y"])
    op: str | None = Field(None, description="The forward op that made that node.",
                           examples=["sqrt"])
    grad_fn: str | None = Field(None, description="The node's grad_fn name.",
                                examples=["SqrtBackward0"])
    output: int | None = Field(None, description="Anomaly errors: the index of the gradient "
                               "output that held NaN.", examples=[0])
    input: str | None = Field(None, description="Anomaly errors: the id of the tensor that "
                              "gradient was for.", examples=["x"])
    forward_node: str | None = Field(None, description="The client's node whose call created "
                                     "the backward node.", examples=["y"])


class OverloadInfo(BaseModel):
    schema_: str = Field(alias="schema", description="native_functions.yaml-style schema.",
                         examples=["add.Tensor(Tensor input, Tensor other, *, Scalar alpha=1) "
                                   "-> Tensor"])
    grad_fn: str | None = Field(description="The grad_fn name PyTorch shows.",
                                examples=["AddBackward0"])
    differentiable: bool = Field(description="Has a derivative.", examples=[True])
    twice_differentiable: bool = Field(description="Its derivative is differentiable.",
                                       examples=[True])
    creation: bool = Field(description="Makes a leaf (takes requires_grad).", examples=[False])
    inplace: bool = Field(False, description="Has torch's in-place variant, the method "
                          "<name>_ (x.exp_()): same grad_fn, written into x.", examples=[True])
    forward_ad: bool = Field(False, description="Has a forward-mode (JVP) rule: usable with "
                             "dual tensors, /functional/jvp's and jacobian(strategy="
                             "\"forward-mode\")'s forward AD.", examples=[True])


class OpInfo(BaseModel):
    name: str = Field(description="The op name used in nodes.", examples=["add"])
    overloads: list[OverloadInfo] = Field(description="Overloads, tried in order.",
                                          examples=[[{"schema": "exp(Tensor input) -> Tensor",
                                                      "grad_fn": "ExpBackward0",
                                                      "differentiable": True,
                                                      "twice_differentiable": True,
                                                      "creation": False,
                                                      "inplace": True,
                                                      "forward_ad": True}]])


class OpsResponse(BaseModel):
    ops: list[OpInfo] = Field(description="Every op of the table.",
                              examples=[[{"name": "exp", "overloads": []}]])
    pseudo_ops: dict[str, str] = Field(description="Ops with no row: tensor methods and "
                                       "attributes.", examples=[{"T": "x.T: args [id]"}])


class Health(BaseModel):
    status: str = Field(description="ok", examples=["ok"])
    torch_semantics: str = Field(description="The torch version whose semantics, names and "
                                 "messages are followed.", examples=["2.13.0"])
    engine: str = Field(description="The engine version.", examples=["0.1.0"])


class Ready(BaseModel):
    status: str = Field(description="ready", examples=["ready"])


class GradcheckRequest(Strict):
    """torch.autograd.gradcheck(func, inputs, eps, atol, rtol, nondet_tol) where func is the
    graph from the `inputs` ids to the `outputs` ids (float64 finite differences)."""

    graph: Graph | None = GraphField
    source: str | None = SourceField
    session: str | None = CheckSessionField
    inputs: Roots = Field(description="The function's inputs: ids of floating point tensors "
                          "in the graph (checked as float64 leaves that require grad).",
                          examples=[["x"]])
    outputs: Roots = Field(description="The function's outputs: ids.", examples=[["out"]])
    eps: float = Field(1e-6, gt=0, description="Finite-difference step.", examples=[1e-6])
    atol: float = Field(1e-5, ge=0, description="Absolute tolerance.", examples=[1e-5])
    rtol: float = Field(1e-3, ge=0, description="Relative tolerance.", examples=[1e-3])
    nondet_tol: float = Field(0.0, ge=0, description="Tolerance between two analytical "
                              "Jacobians (reentrancy).", examples=[0.0])
    seed: int = Field(0, description="gradgradcheck: seed of the random grad_outputs.",
                      examples=[0])
    check_forward_ad: bool = Field(False, description="gradcheck: also check forward AD's "
                                   "Jacobian (one JVP per input element), after backward's, "
                                   "as torch's check_forward_ad.", examples=[False])


class Worst(BaseModel):
    index: list[int] = Field(description="(input element, output element) of the entry that "
                             "exceeds the tolerance most.", examples=[[1, 1]])
    numerical: float = Field(description="Its finite-difference value.", examples=[4.0])
    analytical: float = Field(description="Its backward value.", examples=[6.0])
    abs_diff: float = Field(description="|analytical - numerical|.", examples=[2.0])


class GradcheckFailure(BaseModel):
    output: int = Field(description="Index of the output whose Jacobian mismatched.",
                        examples=[0])
    input: int = Field(description="Index of the input (as torch's message numbers it).",
                       examples=[0])
    input_id: str = Field(description="That input's id (or grad_outputs[k] in "
                          "gradgradcheck).", examples=["x"])
    numerical: TensorOut = Field(description="Numerical Jacobian, (input numel, output "
                                 "numel) as torch lays it out.", examples=[_T])
    analytical: TensorOut = Field(description="Analytical Jacobian, same layout.",
                                  examples=[_T])
    worst: Worst = Field(description="The worst entry.",
                         examples=[{"index": [1, 1], "numerical": 4.0, "analytical": 6.0,
                                    "abs_diff": 2.0}])
    mode: Literal["backward", "forward"] = Field(
        "backward", description="Which analytical Jacobian mismatched: backward's, or "
        "forward AD's (check_forward_ad).", examples=["backward"])


class GradcheckResponse(BaseModel):
    ok: bool = Field(description="True when every Jacobian matches (gradcheck's return).",
                     examples=[False])
    message: str | None = Field(description="torch's GradcheckError text on failure.",
                                examples=["Jacobian mismatch for output 0 with respect to "
                                          "input 0,\n..."])
    reentrant: bool = Field(description="False when two backward passes disagreed beyond "
                            "nondet_tol.", examples=[True])
    graph_hash: str | None = GraphHashField
    failure: GradcheckFailure | None = Field(description="The first mismatching (output, "
                                             "input) pair, as data.", examples=[None])


class FunctionalRequest(Strict):
    """torch.autograd.functional.<fn>(func, inputs, v, create_graph, strict[, vectorize,
    strategy]) where func is the graph from the `inputs` ids to the `outputs` ids."""

    graph: Graph | None = GraphField
    source: str | None = SourceField
    session: str | None = CheckSessionField
    inputs: Roots = Field(description="The function's inputs: ids in the graph (their values "
                          "are the point at which to differentiate).", examples=[["x"]])
    outputs: Roots = Field(description="The function's outputs: ids (exactly one, with one "
                           "element, for hessian/hvp/vhp).", examples=[["y"]])
    v: Seeds = Field(None, description="vjp: one tensor value per output; jvp/hvp/vhp: one "
                     "per input (a single value when there is one). Null where torch allows "
                     "it (one-element tensors).", examples=[[[1.0, 1.0, 1.0]]])
    create_graph: bool = Field(False, description="As torch (the answer holds values only).",
                               examples=[False])
    strict: bool = Field(False, description="torch's strict mode: an output independent of "
                         "an input is an error.", examples=[False])
    vectorize: bool = Field(False, description="jacobian/hessian: accepted as torch's; same "
                            "values.", examples=[False])
    strategy: Literal["reverse-mode", "forward-mode"] = Field(
        "reverse-mode", description="jacobian: strategy; hessian: outer_jacobian_strategy.",
        examples=["reverse-mode"])


class FunctionalResponse(BaseModel):
    graph_hash: str | None = GraphHashField
    func_output: list[TensorOut] | None = Field(None, description="vjp/jvp/hvp/vhp: the "
                                                "function's outputs.", examples=[[_T]])
    vjp: list[TensorOut | None] | None = Field(None, description="v^T J, one per input.",
                                               examples=[[_T]])
    jvp: list[TensorOut | None] | None = Field(None, description="J v, one per output.",
                                               examples=[[_T]])
    hvp: list[TensorOut | None] | None = Field(None, description="H v, one per input.",
                                               examples=[[_T]])
    vhp: list[TensorOut | None] | None = Field(None, description="v^T H, one per input.",
                                               examples=[[_T]])
    jacobian: list[list[TensorOut]] | None = Field(
        None, description="[output][input]: shape output.shape + input.shape.",
        examples=[[[_T]]])
    hessian: list[list[TensorOut]] | None = Field(
        None, description="[input i][input j]: shape input_i.shape + input_j.shape.",
        examples=[[[_T]]])
