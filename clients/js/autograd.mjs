// autograd-client for JavaScript: torch.autograd over HTTP, from Node 20 or a browser.
//
// An ES module with no dependencies (fetch only). It mirrors torch: a session holds named
// tensors; operators are methods (x.mul(y), x.pow(2), .sum()) that build the graph lazily,
// on the client; the nodes built since the last request travel with the next backward or
// grad, which is ONE request each. grad, gradFn and nextFunctions come from its answer.
//
//   import { connect } from "./autograd.mjs";
//   const s = await connect("http://127.0.0.1:8000");
//   const x = s.tensor([1, 2, 3], { requiresGrad: true });
//   const z = x.mul(2).mean();
//   await z.backward();
//   x.grad.data;             // [0.6667, 0.6667, 0.6667]
//   z.gradFn.name();         // "MeanBackward0"
//   await z.tolist();        // 4 (any tensor's values: tolist(), item())
//   await s.close();
//
// Typings: autograd.d.mts (TypeScript finds them beside this file).

/** A problem+json answer, thrown: `status`, `type` and `detail` (PyTorch's message). */
export class AutogradError extends Error {
  constructor(problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.name = "AutogradError";
    this.status = problem.status;
    this.type = problem.type;
    this.detail = problem.detail;
  }
}

/** Open a session on the server at `url`. Options: apiKey, fetch (another fetch). */
export async function connect(url, { apiKey, fetch: fetchImpl } = {}) {
  const session = new Session(url, apiKey, fetchImpl ?? globalThis.fetch.bind(globalThis));
  const answer = await session.request("POST", "/sessions", {});
  session.id = answer.session.id;
  return session;
}

// Unary and reduction methods that take only keyword arguments or none beyond self.
const METHODS = [
  "add", "sub", "mul", "div", "pow", "matmul", "neg", "exp", "log", "sin", "cos", "tanh",
  "sigmoid", "relu", "sqrt", "abs", "square", "sum", "mean", "reshape", "transpose", "t",
  "squeeze", "unsqueeze", "clamp", "max", "min", "dot", "mm", "softmax", "log_softmax",
];

export class Session {
  constructor(url, apiKey, fetchImpl) {
    this.url = url.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.fetch = fetchImpl;
    this.id = null;
    this.pending = []; // nodes built since the last request
    this.counter = 0;
    this.gradEnabled = true;
    this.retained = new Set(); // ids whose .grad to keep (retainGrad)
    this.hooks = new Map(); // id -> [hook]: expression strings or observing functions
    this.values = new Map(); // id -> {shape, dtype, data} known without asking
    this.meta = new Map(); // id -> node metadata from the last answer
    this.grads = new Map(); // id -> .grad value from the last answer
  }

  async request(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (this.apiKey) headers["X-API-Key"] = this.apiKey;
    const r = await this.fetch(this.url + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 204) return null;
    const text = await r.text();
    const answer = text ? JSON.parse(text) : null;
    if (!r.ok) throw new AutogradError(answer ?? { status: r.status });
    return answer;
  }

  newId() {
    this.counter += 1;
    return `t${this.counter}`;
  }

  /** torch.tensor(data, requires_grad=..., dtype=...): a leaf. */
  tensor(data, { requiresGrad = false, dtype, name } = {}) {
    const node = { id: name ?? this.newId(), op: "tensor", data };
    if (requiresGrad) node.requires_grad = true;
    if (dtype) node.dtype = dtype;
    this.values.delete(node.id);
    return this.push(node, requiresGrad, true);
  }

  /** Any op of GET /ops: op("add", x, y), op("sum", x, { dim: 0 }). A trailing plain
   * object (not a Tensor, not an array) is the keyword arguments. */
  op(name, ...args) {
    let kwargs = {};
    const last = args[args.length - 1];
    if (last !== null && typeof last === "object" && !Array.isArray(last) &&
        !(last instanceof Tensor)) {
      kwargs = args.pop();
    }
    const creation = ["zeros", "ones", "full", "arange", "linspace", "rand", "randn"];
    const node = { id: this.newId(), op: name, args: args.map(ref) };
    let requiresGrad = false;
    if (creation.includes(name)) {
      for (const key of ["requires_grad", "requiresGrad", "dtype", "seed"]) {
        if (key in kwargs) {
          node[key === "requiresGrad" ? "requires_grad" : key] = kwargs[key];
          delete kwargs[key];
        }
      }
      requiresGrad = !!node.requires_grad;
    } else {
      requiresGrad = this.gradEnabled && args.some((a) => a instanceof Tensor && a.requiresGrad);
    }
    if (Object.keys(kwargs).length) node.kwargs = mapValues(kwargs, ref);
    return this.push(node, requiresGrad, creation.includes(name));
  }

  push(node, requiresGrad, leaf) {
    if (!this.gradEnabled) node.grad_mode = false;
    this.pending.push(node);
    this.values.delete(node.id);
    return new Tensor(this, node.id, requiresGrad, leaf || !requiresGrad);
  }

  /** torch.no_grad(): nodes built inside fn are computed without recording a graph. */
  noGrad(fn) {
    const before = this.gradEnabled;
    this.gradEnabled = false;
    try {
      return fn();
    } finally {
      this.gradEnabled = before;
    }
  }

  /** torch.autograd.backward(tensors, grad_tensors, retain_graph, create_graph, inputs). */
  async backward(tensors, { gradTensors, retainGraph, createGraph = false, inputs } = {}) {
    await this.observe(tensors, gradTensors, createGraph);
    const body = this.call({
      tensors: list(tensors).map(ref),
      create_graph: createGraph,
      retain_grad: [...this.retained],
    });
    if (gradTensors !== undefined) body.grad_tensors = list(gradTensors).map(ref);
    if (retainGraph !== undefined) body.retain_graph = retainGraph;
    if (inputs !== undefined) body.inputs = list(inputs).map(ref);
    const expressions = {};
    for (const [id, hooks] of this.hooks) {
      const text = hooks.filter((h) => typeof h === "string");
      if (text.length > 1) throw new TypeError(`${id}: one expression hook per tensor`);
      if (text.length) expressions[id] = text[0];
    }
    if (Object.keys(expressions).length) body.hooks = expressions;
    const answer = await this.send("/backward", body);
    for (const [id, g] of Object.entries(answer.retained ?? {})) this.grads.set(id, g);
    this.values.clear(); // in-place accumulation may have changed what was read
    return answer;
  }

  /** Function hooks observe: before a backward, the gradient flowing into each hooked
   * tensor comes from /grad (which frees nothing) and is handed to its hooks. A hook that
   * returns a value would replace the gradient, which only expression hooks can do. */
  async observe(tensors, gradTensors, createGraph) {
    for (const [id, hooks] of this.hooks) {
      const fns = hooks.filter((h) => typeof h === "function");
      if (!fns.length) continue;
      const body = this.call({
        outputs: list(tensors).map(ref), inputs: [id], retain_graph: true,
        create_graph: createGraph, allow_unused: true,
      });
      if (gradTensors !== undefined) body.grad_outputs = list(gradTensors).map(ref);
      const answer = await this.send("/grad", body);
      const g = answer.grads[0];
      if (g === null) continue;
      const t = new Tensor(this, null, false, true);
      t.value = g;
      for (const fn of fns) {
        if (fn(t) !== undefined) {
          throw new TypeError("a function hook may only observe (return nothing); register " +
            'an expression string to change the gradient, e.g. "grad * 2"');
        }
      }
    }
  }

  /** The values of tensor `id`: {shape, dtype, data}, from the cache or the server. */
  async valueOf(id) {
    if (this.values.has(id)) return this.values.get(id);
    if (this.pending.length) await this.send("/backward", this.call({ tensors: [], retain_graph: true }));
    const v = await this.request("GET", `/sessions/${this.id}/tensors/${encodeURIComponent(id)}`);
    this.values.set(id, v);
    return v;
  }

  /** torch.autograd.grad(outputs, inputs, ...): one Tensor (or null) per input, bound in
   * the session so that a createGraph result can be differentiated again. */
  async grad(outputs, inputs, { gradOutputs, retainGraph, createGraph = false,
    allowUnused } = {}) {
    const ins = list(inputs);
    const as = ins.map(() => this.newId());
    const body = this.call({
      outputs: list(outputs).map(ref), inputs: ins.map(ref), create_graph: createGraph, as,
    });
    if (gradOutputs !== undefined) body.grad_outputs = list(gradOutputs).map(ref);
    if (retainGraph !== undefined) body.retain_graph = retainGraph;
    if (allowUnused !== undefined) body.allow_unused = allowUnused;
    const answer = await this.send("/grad", body);
    return answer.grads.map((g, k) => {
      if (g === null) return null;
      const t = new Tensor(this, as[k], createGraph, !createGraph);
      t.value = g;
      return t;
    });
  }

  call(fields) {
    const body = { session: this.id, return_graph: true, ...fields };
    if (this.pending.length) body.graph = { nodes: this.pending };
    return body;
  }

  async send(path, body) {
    const sent = this.pending;
    this.pending = [];
    let answer;
    try {
      answer = await this.request("POST", path, body);
    } catch (e) {
      // the nodes before a failing one stay bound on the server; resending them would
      // rebind them, so only an answer that never came (a network error) puts them back
      if (!(e instanceof AutogradError)) this.pending = sent.concat(this.pending);
      throw e;
    }
    this.absorb(answer);
    return answer;
  }

  absorb(answer) {
    for (const n of answer.graph?.nodes ?? []) this.meta.set(n.id, n);
    if (answer.grads && !Array.isArray(answer.grads)) {
      for (const [id, g] of Object.entries(answer.grads)) this.grads.set(id, g);
    }
  }

  /** optimizer.zero_grad(): every .grad back to null. */
  async zeroGrad() {
    if (this.pending.length) await this.send("/backward", this.call({ tensors: [], retain_graph: true }));
    this.absorb(await this.request("POST", `/sessions/${this.id}/zero_grad`));
    for (const id of this.grads.keys()) this.grads.set(id, null);
  }

  /** The graph drawn like torchviz: "dot", "svg" or "json". */
  async graph(format = "json") {
    const r = await this.fetch(`${this.url}/sessions/${this.id}/graph?format=${format}`, {
      headers: this.apiKey ? { "X-API-Key": this.apiKey } : {},
    });
    if (!r.ok) throw new AutogradError(await r.json());
    return format === "json" ? r.json() : r.text();
  }

  /** End the session on the server. */
  async close() {
    if (this.id !== null) await this.request("DELETE", `/sessions/${this.id}`);
    this.id = null;
  }
}

export class Tensor {
  constructor(session, id, requiresGrad, isLeaf) {
    this.session = session;
    this.id = id;
    this._requiresGrad = requiresGrad;
    this._isLeaf = isLeaf;
    this.value = undefined; // internal: known values ({shape, dtype, data}), else fetched
  }

  /** The values as nested arrays (a number for a 0-d tensor), like torch's tolist(): from
   * the answer that made them (grad results) or fetched (one request). */
  async tolist() {
    return (this.value ?? await this.session.valueOf(this.id)).data;
  }

  /** The value of a one-element tensor, like torch's item(). */
  async item() {
    const data = [await this.tolist()].flat(Infinity);
    if (data.length !== 1) {
      throw new RangeError(`a Tensor with ${data.length} elements cannot be converted to Scalar`);
    }
    return data[0];
  }

  /** {shape, dtype, data}: the same values with their shape and dtype. */
  async values() {
    return this.value ?? this.session.valueOf(this.id);
  }

  /** A gradient hook, run in every later backward that reaches this tensor. A string is an
   * expression over `grad` run on the server ("grad * 2": it may change the gradient); a
   * function observes the gradient (a Tensor) and returns nothing. `remove()` undoes it. */
  registerHook(hook) {
    if (typeof hook !== "string" && typeof hook !== "function") {
      throw new TypeError("registerHook takes an expression string or a function");
    }
    const hooks = this.session.hooks.get(this.id) ?? [];
    hooks.push(hook);
    this.session.hooks.set(this.id, hooks);
    return {
      remove: () => {
        const k = hooks.indexOf(hook);
        if (k >= 0) hooks.splice(k, 1);
      },
    };
  }

  get requiresGrad() {
    return this.session.meta.get(this.id)?.requires_grad ?? this._requiresGrad;
  }

  get isLeaf() {
    return this.session.meta.get(this.id)?.is_leaf ?? this._isLeaf;
  }

  get shape() {
    return this.session.meta.get(this.id)?.shape ?? this.value?.shape;
  }

  /** .grad as the last answer reported it: {shape, dtype, data} or null. */
  get grad() {
    return this.session.grads.get(this.id) ?? null;
  }

  /** .grad_fn: null for a leaf; name() and nextFunctions as in torch. */
  get gradFn() {
    const m = this.session.meta.get(this.id);
    return m?.grad_fn ? new GradFn(this.session, m.grad_fn, this.id) : null;
  }

  op(name, ...args) {
    return this.session.op(name, this, ...args);
  }

  retainGrad() {
    this.session.retained.add(this.id);
    return this;
  }

  /** tensor.backward(gradient, retainGraph, createGraph, inputs): one request. */
  backward(gradient, options = {}) {
    const opts = { ...options };
    if (gradient !== undefined && gradient !== null) opts.gradTensors = [gradient];
    return this.session.backward([this], opts);
  }
}

for (const name of METHODS) {
  Tensor.prototype[name] = function (...args) {
    return this.op(name, ...args);
  };
}

/** A grad_fn: name() and nextFunctions ([GradFn | null, outputNr] per input). An
 * AccumulateGrad's `variable` is the leaf Tensor it accumulates into. */
export class GradFn {
  constructor(session, name, ownerId) {
    this.session = session;
    this._name = name;
    this.ownerId = ownerId;
  }

  name() {
    return this._name;
  }

  get variable() {
    return this._name === "AccumulateGrad"
      ? new Tensor(this.session, this.ownerId, true, true) : undefined;
  }

  get nextFunctions() {
    if (this._name === "AccumulateGrad") return [];
    const edges = this.session.meta.get(this.ownerId)?.next_functions ?? [];
    return edges.map((e) => (e === null ? [null, 0]
      : [new GradFn(this.session, e[0], e[1]), e[2]]));
  }
}

function ref(v) {
  return v instanceof Tensor ? v.id : v;
}

function list(v) {
  return Array.isArray(v) ? v : [v];
}

function mapValues(obj, fn) {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}
