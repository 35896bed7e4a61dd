// The JavaScript client against a live server (AUTOGRAD_URL). Expected values come from
// torch, computed by tests/test_client_js.py and passed as a JSON file (AUTOGRAD_EXPECTED).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { AutogradError, connect } from "../autograd.mjs";

const URL = process.env.AUTOGRAD_URL;
const EXPECTED = process.env.AUTOGRAD_EXPECTED
  ? JSON.parse(readFileSync(process.env.AUTOGRAD_EXPECTED, "utf8")) : null;
const skip = !URL || !EXPECTED ? "set AUTOGRAD_URL and AUTOGRAD_EXPECTED (tests/test_client_js.py does)" : false;

function close(actual, expected, what) {
  const a = [actual].flat(Infinity);
  const e = [expected].flat(Infinity);
  assert.equal(a.length, e.length, `${what}: ${a} vs ${e}`);
  a.forEach((v, k) => assert.ok(Math.abs(v - e[k]) <= 1e-5 + 1e-4 * Math.abs(e[k]),
    `${what}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`));
}

test("the api.md graph: grads, retained grad, grad_fn and next_functions", { skip }, async () => {
  const want = EXPECTED.apimd;
  const s = await connect(URL);
  try {
    const x = s.tensor([1, 2, 3], { requiresGrad: true, name: "x" });
    const y = s.tensor([3, 4, 5], { requiresGrad: true, name: "y" });
    const z = s.tensor([1, 2, 3], { requiresGrad: true, name: "z" });
    const xy = x.add(y).retainGrad();
    const out = xy.pow(2).mul(z.pow(3));
    assert.equal(out.gradFn, null); // nothing is known before the request
    await out.backward([1, 1, 1]);
    close(x.grad.data, want.x, "x.grad");
    close(y.grad.data, want.y, "y.grad");
    close(z.grad.data, want.z, "z.grad");
    close(xy.grad.data, want.xy, "xy.grad");
    assert.equal(out.gradFn.name(), want.out_fn);
    assert.deepEqual(out.gradFn.nextFunctions.map(([f, nr]) => [f.name(), nr]), want.out_next);
    const [[acc]] = xy.gradFn.nextFunctions;
    assert.equal(acc.name(), "AccumulateGrad");
    assert.equal(acc.variable.id, "x");
    assert.equal(x.isLeaf, true);
    assert.equal(out.isLeaf, false);
    assert.deepEqual(out.shape, [3]);
  } finally {
    await s.close();
  }
});

test("retain_graph: a second backward accumulates into .grad", { skip }, async () => {
  const want = EXPECTED.accumulate;
  const s = await connect(URL);
  const w = s.tensor(1.0, { requiresGrad: true });
  const x = s.tensor(2.0, { requiresGrad: true });
  const b = s.tensor(3.0, { requiresGrad: true });
  const zz = w.mul(x).add(b);
  await zz.backward(null, { retainGraph: true });
  close(w.grad.data, want.first.w, "w.grad once");
  await zz.backward();
  close(w.grad.data, want.second.w, "w.grad twice");
  close(b.grad.data, want.second.b, "b.grad twice");
  await s.zeroGrad();
  assert.equal(w.grad, null);
  await s.close();
});

test("backward twice through a freed graph is PyTorch's error", { skip }, async () => {
  const s = await connect(URL);
  const x = s.tensor([1, 2], { requiresGrad: true });
  const y = x.pow(2).sum();
  await y.backward();
  await assert.rejects(y.backward(), (e) => e instanceof AutogradError && e.status === 409 &&
    e.detail === EXPECTED.twice_error);
  await s.close();
});

test("grad with createGraph, then double backward; noGrad; op with kwargs", { skip }, async () => {
  const want = EXPECTED.double;
  const s = await connect(URL);
  const x = s.tensor([0.5, 1.5], { requiresGrad: true });
  const [dx] = await s.grad(x.pow(3).sum(), x, { createGraph: true });
  close(await dx.tolist(), want.dx, "dx");
  assert.equal(dx.requiresGrad, true);
  const [ddx] = await s.grad(dx.sum(), [x]);
  close(await ddx.tolist(), want.ddx, "ddx");
  const c = s.noGrad(() => x.mul(2));
  assert.equal(c.requiresGrad, false);
  const m = s.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
  const col = m.op("sum", { dim: 0 });
  await col.op("mean").backward();
  close(m.grad.data, want.m, "m.grad");
  assert.equal(col.gradFn.name(), want.col_fn);
  await s.close();
});

test("values of any tensor; hooks (a function observes, an expression changes); retainGrad",
  { skip }, async () => {
    const want = EXPECTED.hooks;
    const s = await connect(URL);
    try {
      const x = s.tensor([1, 2, 3], { requiresGrad: true });
      const h = x.mul(3).retainGrad();
      const seen = [];
      h.registerHook((g) => { seen.push(g.value.data); });
      const removed = h.registerHook("grad * 100");
      removed.remove();
      h.registerHook("grad * 2");
      const out = h.pow(2).sum();
      close(await out.tolist(), want.values.hout, "out.tolist()");
      close(await out.item(), want.values.hout, "out.item()");
      close(await h.tolist(), want.values.h, "h.tolist()");
      assert.deepEqual((await h.values()).shape, [3]);
      close(await x.tolist(), want.values.x, "x.tolist()");
      await out.backward();
      close(seen, want.seen, "what the function hook saw");
      close(x.grad.data, want.x, "x.grad");
      close(h.grad.data, want.h, "h.grad (retainGrad)");
      await assert.rejects(x.item(), RangeError);
    } finally {
      await s.close();
    }
  });
