"""The published OpenAPI contract: what FastAPI's generated document lacks, added once.

Request bodies are read by hand (JSON or the binary extension, see http.parse), so their
models are added to the components here. Values that are "anything" to the validators
(tensor values, arguments, seeds) get real schemas here; validation itself is unchanged
(http.parse and the pydantic models). Also: security schemes, servers, license, readable
operation ids, problem+json errors, and whole-request named examples (examples.py).

# NOTE [binary bodies in the contract]
A binary body (the Open Inference Protocol binary extension) is documented as content of
its own: components.requestBodies.BinaryRequest and components.responses.BinaryAnswer
(schema BinaryBody), named in each route's request description, and the 200 answers that
can be binary list its Inference-Header-Content-Length header. It is not a second content
type of the routes: with two request contents openapi-python-client 0.29 writes a module
that fails to import, and with two 200 contents every generated client types every answer
as "JSON or bytes" (TypeScript: `Json | string`). So the JSON request bodies document
encoding "list" or "base64" (the server also honours "binary" there, answering in bytes).
"""

from __future__ import annotations

import json

from .. import schemas
from ..wire import codec
from . import errors, examples

REF = "#/components/schemas/{}"
_NUMBER_DOC = ("JSON number; non-finite floats as the strings \"NaN\", \"Infinity\", "
               "\"-Infinity\"; true/false for bool tensors.")
_DTYPE = {"type": "string", "enum": ["float32", "float64", "int64", "bool"],
          "description": "The dtype (float32 unless said).", "examples": ["float32"]}
_SHAPE = {"type": "array", "items": {"type": "integer", "minimum": 0},
          "description": "The shape.", "examples": [[3]]}

# The forms of a tensor value (codec.decode reads them; codec.Encoder writes list and b64).
TENSOR_SCHEMAS = {
    "Scalar": {"title": "Scalar", "description": "One element: " + _NUMBER_DOC, "anyOf": [
        {"type": "number"}, {"type": "boolean"},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
        "examples": [1.5]},
    "NestedList": {"title": "NestedList", "type": "array",
                   "description": "A tensor as nested lists: Scalars, or lists of the same "
                   "form, every sub-list of one depth as long as the others. (Deeper levels "
                   "are typed as arrays only: generators do not follow a schema that refers "
                   "to itself through an array's items.)",
                   "items": {"$ref": REF.format("NestedListItem")},
                   "examples": [[1.0, 2.0, 3.0], [[1, 2], [3, 4]]]},
    "NestedListItem": {"title": "NestedListItem", "description": "An item of a NestedList: a "
                       "Scalar or a list of the same form.", "anyOf": [
                           {"$ref": REF.format("Scalar")}, {"type": "array", "items": {}}],
                       "examples": [1.0]},
    "TensorElements": {"title": "TensorElements", "description": "A tensor's elements: one "
                       "Scalar (a 0-d tensor) or nested lists.", "anyOf": [
                           {"$ref": REF.format("Scalar")}, {"$ref": REF.format("NestedList")}],
                       "examples": [[1.0, 2.0]]},
    "TensorData": {"title": "TensorData", "type": "object", "additionalProperties": False,
                   "description": "A tensor of an explicit dtype.", "required": ["data"],
                   "properties": {
                       "data": {"$ref": REF.format("TensorElements"),
                                "description": "The values.", "examples": [[1, 2]]},
                       "dtype": _DTYPE},
                   "examples": [{"data": [1, 2], "dtype": "float64"}]},
    "TensorBase64": {"title": "TensorBase64", "type": "object", "additionalProperties": False,
                     "description": "Raw little-endian C-order bytes, base64 (RFC 4648).",
                     "required": ["dtype", "shape", "b64"],
                     "properties": {"dtype": _DTYPE, "shape": _SHAPE, "b64": {
                         "type": "string", "contentEncoding": "base64",
                         "description": "The bytes, base64.",
                         "examples": ["AACAPwAAAEAAAEBA"]}},
                     "examples": [{"dtype": "float32", "shape": [3],
                                   "b64": "AACAPwAAAEAAAEBA"}]},
    "BinaryTensor": {"title": "BinaryTensor", "type": "object", "additionalProperties": False,
                     "description": "Only in a binary body (BinaryBody): the tensor's bytes "
                     "follow the JSON head, in the order these references appear.",
                     "required": ["dtype", "shape", "binary_data_size"],
                     "properties": {"dtype": _DTYPE, "shape": _SHAPE, "binary_data_size": {
                         "type": "integer", "minimum": 0,
                         "description": "Its bytes in the binary part.", "examples": [12]}},
                     "examples": [{"dtype": "float32", "shape": [3],
                                   "binary_data_size": 12}]},
    "TensorValue": {"title": "TensorValue", "description": schemas._TENSOR_DOC, "anyOf": [
        {"$ref": REF.format(name)} for name in
        ("Scalar", "NestedList", "TensorData", "TensorBase64", "BinaryTensor")],
        "examples": [[1.0, 2.0, 3.0], {"dtype": "float64", "data": [1, 2]}]},
    "Reference": {"title": "Reference", "type": "string",
                  "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.grad)?$",
                  "description": "A node id ('x'), or its gradient ('x.grad').",
                  "examples": ["x"]},
    "Ids": {"title": "Ids", "description": "An id, or a list of ids.", "anyOf": [
        {"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "examples": [["x", "y"]]},
    "ReturnGraph": {"title": "ReturnGraph", "description": "true: graph metadata; 'dot', "
                    "'svg' or 'json': that and a drawing.", "anyOf": [
                        {"type": "boolean"}, {"type": "string", "enum": ["dot", "svg", "json"]}],
                    "examples": [True]},
    "Seed": {"title": "Seed", "description": "A seed: a tensor value, a reference ('v', as "
             "in y.backward(v)), or null for a one-element root.", "anyOf": [
                 {"$ref": REF.format("Reference")}, {"$ref": REF.format("TensorValue")},
                 {"type": "null"}], "examples": [[1, 1, 1]]},
    "Seeds": {"title": "Seeds", "description": "One Seed per root, or with a single root "
              "the Seed itself.", "anyOf": [
                  {"type": "array", "items": {"$ref": REF.format("Seed")}},
                  {"$ref": REF.format("Seed")}], "examples": [[[1, 1, 1]]]},
    "Slice": {"title": "Slice", "type": "object", "additionalProperties": False,
              "description": "An index component start:stop:step (op 'index').",
              "required": ["slice"], "properties": {"slice": {
                  "type": "array", "minItems": 3, "maxItems": 3,
                  "items": {"type": ["integer", "null"]},
                  "description": "[start, stop, step], nulls for defaults.",
                  "examples": [[None, None, 2]]}},
              "examples": [{"slice": [0, 2, None]}]},
    "Argument": {"title": "Argument", "description": "An argument: a string is a reference "
                 "('x', 'x.grad') or a string constant (reduction='sum'); a number, bool, "
                 "null or tensor value is a constant; a list may mix references and "
                 "tensor values (Tensor[] arguments) or be an index (op 'index', with "
                 "Slice components and '...').", "anyOf": [
                     {"type": "string"}, {"type": "null"}, {"$ref": REF.format("TensorValue")},
                     {"$ref": REF.format("Slice")},
                     {"type": "array", "items": {"$ref": REF.format("ArgumentItem")}}],
                 "examples": ["x", 2, [0, 1]]},
    "ArgumentItem": {"title": "ArgumentItem", "description": "An item of a list argument: a "
                     "reference, tensor value, index component or null.", "anyOf": [
                         {"type": "string"}, {"type": "null"},
                         {"$ref": REF.format("TensorValue")}, {"$ref": REF.format("Slice")}],
                     "examples": ["x"]},
    "NextFunction": {"title": "NextFunction", "description": "[grad_fn name, id of its "
                     "tensor, output_nr] (torch's (node, output_nr) pair, with the tensor "
                     "named), or null where that input needs no grad.", "anyOf": [
                         {"type": "array", "prefixItems": [
                             {"type": "string"}, {"type": ["string", "null"]},
                             {"type": "integer"}], "minItems": 3, "maxItems": 3},
                         {"type": "null"}],
                     "examples": [["AccumulateGrad", "x", 0]]},
    "BinaryBody": {"title": "BinaryBody", "type": "string", "format": "binary",
                   "contentMediaType": codec.OCTET, "description": (
                       "The Open Inference Protocol binary extension: the first "
                       f"{codec.BINARY_HEADER} bytes are the JSON request, whose tensors may "
                       "be BinaryTensor references; their raw bytes follow, in order. With "
                       "encoding \"binary\" the answer is written the same way: its first "
                       f"{codec.BINARY_HEADER} bytes (a response header) are the JSON "
                       "answer, its tensors' bytes follow.")},
}
BINARY_HEADER = {"description": "Only on a binary answer (#/components/responses/"
                 "BinaryAnswer): the length of its JSON part; the raw tensors follow.",
                 "schema": {"type": "integer", "minimum": 0}}
BINARY_BODY = {codec.OCTET: {"schema": {"$ref": REF.format("BinaryBody")}}}
REQUEST_BODIES = {"BinaryRequest": {
    "description": "Any JSON request body (or PUT's tensor value) in the binary extension: "
    f"send it with Content-Type {codec.OCTET} and the {codec.BINARY_HEADER} header.",
    "required": True, "content": BINARY_BODY}}
RESPONSES = {"BinaryAnswer": {
    "description": "The answer to a request with encoding \"binary\" (a BinaryRequest, or "
    "GET's ?encoding=binary): the route's JSON answer, its tensors as BinaryTensor "
    "references, then their bytes.", "content": BINARY_BODY,
    "headers": {codec.BINARY_HEADER: {"description": "The length of the JSON part.",
                                     "required": True,
                                     "schema": {"type": "integer", "minimum": 0}}}}}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "One of AUTOGRAD_API_KEYS (only when keys are configured)."},
    "Bearer": {"type": "http", "scheme": "bearer",
               "description": "The same key as `Authorization: Bearer <key>`."}}
# Keys are required only when the server has some (AUTOGRAD_API_KEYS): {} allows none.
SECURITY = [{"ApiKey": []}, {"Bearer": []}, {}]
SERVERS = [{"url": "http://127.0.0.1:8000", "description": "`autograd-service` on this "
            "machine (the default host and port)"}]
LICENSE = {"name": "MIT", "identifier": "MIT"}
OPERATION_IDS = {
    ("post", "/backward"): "backward", ("post", "/grad"): "grad",
    ("post", "/gradcheck"): "gradcheck", ("post", "/gradgradcheck"): "gradgradcheck",
    **{("post", f"/functional/{k}"): f"functional_{k}"
       for k in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp")},
    ("post", "/sessions"): "create_session", ("get", "/sessions/{sid}"): "read_session",
    ("delete", "/sessions/{sid}"): "delete_session",
    ("post", "/sessions/{sid}/free"): "free_session",
    ("post", "/sessions/{sid}/zero_grad"): "zero_grad",
    ("get", "/sessions/{sid}/graph"): "draw_graph",
    ("get", "/sessions/{sid}/tensors/{name}"): "get_tensor",
    ("put", "/sessions/{sid}/tensors/{name}"): "put_tensor",
    ("get", "/ops"): "list_ops", ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz", ("get", "/metrics"): "metrics"}
REQUEST_MODELS = (schemas.BackwardRequest, schemas.GradRequest, schemas.SessionCreate,
                  schemas.GradcheckRequest, schemas.FunctionalRequest, schemas.ProblemModel)
JSON_ENCODINGS = ["list", "base64"]  # NOTE [binary bodies in the contract]
ENCODING_BODIES = ("BackwardRequest", "GradRequest", "SessionCreate")


def complete(spec: dict) -> dict:
    """FastAPI's document -> the published contract (in place)."""
    spec["info"]["license"] = LICENSE
    spec["servers"] = SERVERS
    spec["security"] = SECURITY
    comps = spec.setdefault("components", {})
    comps["securitySchemes"] = SECURITY_SCHEMES
    comps["requestBodies"] = REQUEST_BODIES
    comps["responses"] = RESPONSES
    models = comps.setdefault("schemas", {})
    for model in REQUEST_MODELS:
        js = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                     mode="validation")
        models.update(js.pop("$defs", {}))
        models[js.get("title", model.__name__)] = js
    models.update(TENSOR_SCHEMAS)
    _resolve_markers(spec)
    models.pop("HTTPValidationError", None)
    models.pop("ValidationError", None)
    for name in (*(m.__name__ for m in REQUEST_MODELS[:-1]), "Graph", "Node"):
        _defaults_in_words(models[name])
    for name in ENCODING_BODIES:
        _json_encodings(models[name]["properties"]["encoding"])
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            op["operationId"] = OPERATION_IDS[method, path]
            _operation(op)
            named = examples.EXAMPLES.get(op["operationId"])
            if named:
                _examples(op, named)
    return spec


def _resolve_markers(spec: dict) -> None:
    """{CONTRACT_REF: name} (schemas._published) -> {"$ref": REF.format(name)}."""
    stack = [spec]
    while stack:
        node = stack.pop()
        items = node.values() if isinstance(node, dict) else node
        for child in items:
            if isinstance(child, dict) and schemas.CONTRACT_REF in child:
                child["$ref"] = REF.format(child.pop(schemas.CONTRACT_REF))
            if isinstance(child, dict | list):
                stack.append(child)


def _operation(op: dict) -> None:
    if "401" not in op["responses"]:
        op["security"] = []  # open to all, keys or not
    takes_encoding = any(p.get("name") == "encoding" for p in op.get("parameters", ()))
    for param in op.get("parameters", ()):
        if param.get("name") == "encoding":
            _json_encodings(param["schema"])
    for status, resp in op["responses"].items():
        if status[0] in "45":  # every error is problem+json, 422 included
            resp["content"] = {errors.PROBLEM: {"schema": {"$ref": REF.format("Problem")}}}
            if status == "422":
                resp["description"] = errors.DOCS[422]
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    takes_encoding |= body.get("schema", {}).get("$ref", "").endswith(ENCODING_BODIES)
    if takes_encoding:
        for status, resp in op["responses"].items():
            if status[0] == "2" and "application/json" in resp.get("content", {}):
                resp.setdefault("headers", {})[codec.BINARY_HEADER] = BINARY_HEADER


def _defaults_in_words(schema: dict) -> None:
    """A request field's default, said in its description rather than as `default`:
    openapi-typescript (default flags) makes a field with a default a required one in the
    type of the body the client writes. The server still applies it."""
    for prop in schema["properties"].values():
        if "default" in prop:
            default = json.dumps(prop.pop("default"))
            prop["description"] = f"{prop['description']} Default: {default}."


def _json_encodings(schema: dict) -> None:
    schema["enum"] = JSON_ENCODINGS
    schema["description"] = (schema.get("description", "") + " (\"binary\": see BinaryBody)"
                             ).strip()


def _examples(op: dict, named: dict) -> None:
    """Whole-request examples and, under the status each one answers, its answer."""
    body = op["requestBody"]["content"]["application/json"]
    body["examples"] = {name: {"summary": ex["summary"], "value": ex["request"]}
                        for name, ex in named.items()}
    for name, ex in named.items():
        content = op["responses"][str(ex["status"])]["content"]
        media = content[errors.PROBLEM if ex["status"] >= 400 else "application/json"]
        media.setdefault("examples", {})[name] = {"summary": ex["summary"],
                                                  "value": ex["response"]}
