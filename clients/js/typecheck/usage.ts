// Compiled by `tsc --strict --noEmit` (tests/test_client_js.py): the README's example and
// the documented methods, typed through autograd.d.mts. Never run.
import { AutogradError, connect, GradFn, Tensor, TensorValue } from "../autograd.mjs";

export async function example(url: string): Promise<number> {
  const s = await connect(url, { apiKey: "k" });
  const x: Tensor = s.tensor([1, 2, 3], { requiresGrad: true });
  const y = s.tensor([3, 4, 5], { requiresGrad: true, name: "y" });
  const out = x.add(y).pow(2).mul(x).sum();
  const h = x.mul(3).retainGrad();
  const handle = h.registerHook("grad * 2");
  h.registerHook((g: Tensor) => { void g.tolist(); });
  await out.backward(null, { retainGraph: true });
  handle.remove();
  const grad: TensorValue | null = x.grad;
  const fn: GradFn | null = out.gradFn;
  const first = fn?.nextFunctions[0][0]?.name();
  const [dx] = await s.grad(x.pow(3).sum(), x, { createGraph: true });
  const values = dx === null ? null : await dx.tolist();
  const svg: string = await s.graph("svg");
  try {
    await out.backward();
  } catch (e) {
    if (e instanceof AutogradError) console.log(e.status, e.detail);
  }
  s.noGrad(() => x.mul(2));
  await s.close();
  console.log(grad?.data, first, values, svg.length);
  return Number(await out.item());
}
