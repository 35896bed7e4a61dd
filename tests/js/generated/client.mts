// The README's backward, /grad with create_graph, and a session round trip, through a
// client generated from openapi.json by openapi-typescript (default flags) and called with
// openapi-fetch. Compiled with `tsc --strict` beside the generated api.d.ts; prints one
// JSON object for tests/test_generated_client.py to compare with torch.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

declare const process: { argv: string[] };  // node's, without @types/node

type TensorOut = components["schemas"]["TensorOut"];
type Node = components["schemas"]["Node"];

const client = createClient<paths>({ baseUrl: process.argv[2] });

function values(t: TensorOut | null | undefined): unknown {
  if (t == null) throw new Error("no tensor");
  return t.data;
}

const readme: Node[] = [
  { id: "x", op: "tensor", data: [1, 2, 3], requires_grad: true },
  { id: "y", op: "tensor", data: [3, 4, 5], requires_grad: true },
  { id: "z", op: "tensor", data: [1, 2, 3], requires_grad: true },
  { id: "xy", op: "add", args: ["x", "y"] },
  { id: "xy2", op: "pow", args: ["xy", 2] },
  { id: "z3", op: "pow", args: ["z", 3] },
  { id: "out", op: "mul", args: ["xy2", "z3"] },
];
const backward = await client.POST("/backward", {
  body: { graph: { nodes: readme }, tensors: ["out"], grad_tensors: [[1, 1, 1]],
          retain_grad: ["xy"], return_graph: true },
});
if (backward.error !== undefined) throw new Error(JSON.stringify(backward.error));
const answer = backward.data;  // BackwardResponse, not `BackwardResponse | string`
const outNode = answer.graph?.nodes.find((n) => n.id === "out");

const grad = await client.POST("/grad", {
  body: { source: "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = (x ** 3).sum()",
          outputs: "y", inputs: "x", create_graph: true, as: ["dx"] },
});
if (grad.error !== undefined) throw new Error(JSON.stringify(grad.error));
const sid = grad.data.session?.id;
if (sid === undefined) throw new Error("create_graph keeps a session");
// the second derivative: d/dx sum(dx), in the same session
const second = await client.POST("/grad", {
  body: { session: sid, graph: { nodes: [{ id: "s", op: "sum", args: ["dx"] }] },
          outputs: "s", inputs: "x" },
});
if (second.error !== undefined) throw new Error(JSON.stringify(second.error));

// a session round trip: create, backward twice (accumulates), put a leaf, read, delete
const created = await client.POST("/sessions", {
  body: { graph: { nodes: [
    { id: "w", op: "tensor", data: 1.0, requires_grad: true },
    { id: "x", op: "tensor", data: 2.0, requires_grad: true },
    { id: "b", op: "tensor", data: 3.0, requires_grad: true },
    { id: "y", op: "mul", args: ["w", "x"] },
    { id: "z", op: "add", args: ["y", "b"] }] } },
});
if (created.error !== undefined) throw new Error(JSON.stringify(created.error));
const session = created.data.session.id;
const first = await client.POST("/backward", {
  body: { session, tensors: "z", retain_graph: true } });
const again = await client.POST("/backward", { body: { session, tensors: "z" } });
const freed = await client.POST("/backward", { body: { session, tensors: "z" } });
const put = await client.PUT("/sessions/{sid}/tensors/{name}", {
  params: { path: { sid: session, name: "w" } }, body: 5.0 });
const read = await client.GET("/sessions/{sid}", { params: { path: { sid: session } } });
const deleted = await client.DELETE("/sessions/{sid}", { params: { path: { sid: session } } });
const gone = await client.GET("/sessions/{sid}", { params: { path: { sid: session } } });
if (first.error || again.error || put.error || read.error) throw new Error("session failed");

console.log(JSON.stringify({
  backward: { x: values(answer.grads["x"]), y: values(answer.grads["y"]),
              z: values(answer.grads["z"]), xy: values(answer.retained["xy"]),
              out_grad_fn: outNode?.grad_fn, out_next: outNode?.next_functions },
  grad: { dx: values(grad.data.grads[0]), d2x: values(second.data.grads[0]) },
  session: { first: values(first.data?.grads["w"]), again: values(again.data?.grads["w"]),
             freed_status: freed.error?.status, freed_detail: freed.error?.detail,
             put: values(put.data?.tensor), read_w: values(read.data?.grads?.["w"]),
             deleted: deleted.response.status, gone: gone.error?.status },
}));
