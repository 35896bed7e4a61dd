// Typings of autograd.mjs, the JavaScript client of autograd-as-a-service. TypeScript finds
// them beside the module (`import { connect } from "./autograd.mjs"`); tests/test_client_js.py
// checks them with `tsc --strict` against clients/js/typecheck/usage.ts.

/** A tensor value on the wire: nested arrays (a number for a 0-d tensor), shape, dtype. */
export interface TensorValue {
  shape: number[];
  dtype: "float32" | "float64" | "int64" | "bool" | string;
  data: NestedNumbers;
}

export type NestedNumbers = number | boolean | string | NestedNumbers[];

/** Anything an op takes: a Tensor, a number, nested arrays, or (by id) a tensor's name. */
export type Arg = Tensor | number | boolean | string | null | Arg[] | { [key: string]: Arg };

export interface ConnectOptions {
  /** Sent as X-API-Key. */
  apiKey?: string;
  /** Another fetch (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
}

export interface TensorOptions {
  requiresGrad?: boolean;
  dtype?: "float32" | "float64" | "int64" | "bool";
  /** The tensor's id in the session (default: t1, t2, ...). */
  name?: string;
}

export interface BackwardOptions {
  gradTensors?: Arg | Arg[];
  retainGraph?: boolean;
  createGraph?: boolean;
  inputs?: Tensor | Tensor[];
}

export interface GradOptions {
  gradOutputs?: Arg | Arg[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** A problem+json answer, thrown: `status`, `type` and `detail` (PyTorch's message). */
export class AutogradError extends Error {
  constructor(problem: { status?: number; type?: string; title?: string; detail?: string });
  status: number | undefined;
  type: string | undefined;
  detail: string | undefined;
}

/** Open a session on the server at `url`. */
export function connect(url: string, options?: ConnectOptions): Promise<Session>;

/** What a backward answers (see docs/api.md). */
export interface BackwardAnswer {
  grads: Record<string, TensorValue | null>;
  retained?: Record<string, TensorValue | null>;
  graph?: { nodes: NodeInfo[] };
  session?: { id: string; expires_at: string; graph_retained: boolean };
  [key: string]: unknown;
}

/** Graph metadata of one named tensor. */
export interface NodeInfo {
  id: string;
  op: string | null;
  shape: number[];
  dtype: string;
  requires_grad: boolean;
  is_leaf: boolean;
  retains_grad: boolean;
  grad_fn: string | null;
  next_functions: ([string, string, number] | null)[] | null;
}

export class Session {
  /** The server's session id (null after close()). */
  id: string | null;
  /** torch.tensor(data, requires_grad=..., dtype=...): a leaf. */
  tensor(data: NestedNumbers, options?: TensorOptions): Tensor;
  /** Any op of GET /ops; a trailing plain object is the keyword arguments. */
  op(name: string, ...args: Arg[]): Tensor;
  /** torch.no_grad(): nodes built inside fn are computed without recording a graph. */
  noGrad<T>(fn: () => T): T;
  /** torch.autograd.backward: one request. */
  backward(tensors: Tensor | Tensor[], options?: BackwardOptions): Promise<BackwardAnswer>;
  /** torch.autograd.grad: one Tensor (or null) per input. */
  grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[],
       options?: GradOptions): Promise<(Tensor | null)[]>;
  /** optimizer.zero_grad(): every .grad back to null. */
  zeroGrad(): Promise<void>;
  /** The graph drawn like torchviz. */
  graph(format: "json"): Promise<unknown>;
  graph(format: "dot" | "svg"): Promise<string>;
  /** End the session on the server. */
  close(): Promise<void>;
}

/** A hook's handle. */
export interface RemovableHandle {
  remove(): void;
}

export class Tensor {
  readonly session: Session;
  /** The tensor's id in the session's graph. */
  readonly id: string;
  readonly requiresGrad: boolean;
  readonly isLeaf: boolean;
  readonly shape: number[] | undefined;
  /** .grad as the last answer reported it, or null. */
  readonly grad: TensorValue | null;
  /** .grad_fn: null for a leaf (and before the first answer). */
  readonly gradFn: GradFn | null;
  /** The values as nested arrays, like torch's tolist() (fetched when not known). */
  tolist(): Promise<NestedNumbers>;
  /** The value of a one-element tensor, like torch's item(). */
  item(): Promise<number | boolean>;
  /** The values with their shape and dtype. */
  values(): Promise<TensorValue>;
  /** A gradient hook: an expression over `grad` run on the server (may change the
   * gradient), or a function that observes it. */
  registerHook(hook: string | ((grad: Tensor) => void)): RemovableHandle;
  /** Keep this non-leaf's .grad (torch's retain_grad()). */
  retainGrad(): this;
  /** tensor.backward(gradient, {retainGraph, createGraph, inputs}): one request. */
  backward(gradient?: Arg | null, options?: Omit<BackwardOptions, "gradTensors">):
    Promise<BackwardAnswer>;
  op(name: string, ...args: Arg[]): Tensor;
  add(other: Arg, kwargs?: Record<string, Arg>): Tensor;
  sub(other: Arg, kwargs?: Record<string, Arg>): Tensor;
  mul(other: Arg): Tensor;
  div(other: Arg, kwargs?: Record<string, Arg>): Tensor;
  pow(exponent: Arg): Tensor;
  matmul(other: Arg): Tensor;
  dot(other: Arg): Tensor;
  mm(other: Arg): Tensor;
  neg(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  sin(): Tensor;
  cos(): Tensor;
  tanh(): Tensor;
  sigmoid(): Tensor;
  relu(): Tensor;
  sqrt(): Tensor;
  abs(): Tensor;
  square(): Tensor;
  sum(...args: Arg[]): Tensor;
  mean(...args: Arg[]): Tensor;
  max(...args: Arg[]): Tensor;
  min(...args: Arg[]): Tensor;
  reshape(...shape: Arg[]): Tensor;
  transpose(dim0: number, dim1: number): Tensor;
  t(): Tensor;
  squeeze(...args: Arg[]): Tensor;
  unsqueeze(dim: number): Tensor;
  clamp(...args: Arg[]): Tensor;
  softmax(...args: Arg[]): Tensor;
  log_softmax(...args: Arg[]): Tensor;
}

/** A grad_fn: name() and nextFunctions ([GradFn | null, outputNr] per input). */
export class GradFn {
  name(): string;
  /** AccumulateGrad's leaf (undefined for other nodes). */
  readonly variable: Tensor | undefined;
  readonly nextFunctions: [GradFn | null, number][];
}
