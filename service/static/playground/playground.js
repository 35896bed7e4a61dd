// The playground: build a graph from source, press backward, see the graph, values and
// grads; press "Backward again" to walk a retained graph once more and watch .grad
// accumulate, as in PyTorch. Plain fetch against this server's own API; no dependencies.

const $ = (id) => document.getElementById(id);
let seeds = [];
let session = null; // the session of the current graph
let calls = 0; // backward calls made in it
let actions = 0; // button presses handled (tests wait on body[data-actions])

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api_key").value.trim();
  if (key) h["X-API-Key"] = key;
  return h;
}

// One API call: {ok, status, body} with body parsed as JSON when it is JSON.
async function call(method, path, body) {
  const r = await fetch(path, { method, headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed = text;
  if ((r.headers.get("content-type") || "").includes("json") && text) parsed = JSON.parse(text);
  return { ok: r.ok, status: r.status, body: parsed };
}

function problemText(res) {
  const b = res.body;
  return typeof b === "object" && b ? `${b.status} ${b.title}: ${b.detail}` : `HTTP ${res.status}`;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

// Numbers as torch prints them (4 decimals), nested lists kept.
function fmt(t) {
  if (t === null || t === undefined) return "None";
  const round = (v) => (typeof v === "number" ? Number(v.toFixed(4)) : v);
  const walk = (v) => (Array.isArray(v) ? v.map(walk) : round(v));
  return JSON.stringify(walk(t.data));
}

function roots() {
  const ids = $("tensors").value.split(",").map((s) => s.trim()).filter(Boolean);
  return ids.length === 1 ? ids[0] : ids;
}

function useSeed(k) {
  const s = seeds[k];
  $("source").value = s.source;
  $("tensors").value = s.tensors;
  $("grad_tensors").value = s.grad_tensors || "";
  $("retain_graph").checked = !!s.retain_graph;
  $("create_graph").checked = !!s.create_graph;
}

async function endSession() {
  if (session) await call("DELETE", `/sessions/${session}`).catch(() => {});
  session = null;
  calls = 0;
  $("history").replaceChildren();
  $("again").disabled = $("zero").disabled = true;
  $("session").textContent = "";
}

// "Backward": a fresh session from the source, then the first backward call.
async function firstBackward() {
  await endSession();
  const res = await call("POST", "/sessions", { source: $("source").value });
  if (!res.ok) {
    status(problemText(res), true);
    return;
  }
  session = res.body.session.id;
  $("session").textContent = `session ${session}`;
  await render(res.body);
  await backward();
}

async function backward() {
  const body = { session, tensors: roots(), retain_graph: $("retain_graph").checked,
    create_graph: $("create_graph").checked, return_graph: true };
  const seed = $("grad_tensors").value.trim();
  if (seed) {
    try {
      body.grad_tensors = JSON.parse(seed);
    } catch (e) {
      status(`grad_tensors is not JSON: ${e.message}`, true);
      return;
    }
  }
  const res = await call("POST", "/backward", body);
  const item = document.createElement("li");
  if (!res.ok) {
    item.className = "error";
    item.textContent = `backward: ${problemText(res)}`;
    $("history").append(item);
    status(problemText(res), true);
    return;
  }
  calls += 1;
  const grads = { ...res.body.grads, ...res.body.retained };
  item.dataset.call = String(calls);
  item.textContent = `backward #${calls}: ` + Object.entries(grads)
    .map(([id, g]) => `${id}.grad = ${fmt(g)}`).join(", ");
  $("history").append(item);
  $("again").disabled = $("zero").disabled = false;
  status(`backward #${calls} done` + (res.body.session?.graph_retained ? " (graph retained)" : " (graph freed)"));
  await render(res.body);
}

async function zeroGrad() {
  const res = await call("POST", `/sessions/${session}/zero_grad`);
  if (!res.ok) return status(problemText(res), true);
  const item = document.createElement("li");
  item.textContent = "zero_grad()";
  $("history").append(item);
  status("every .grad is None again");
  await render(res.body);
}

// The tensors table (values fetched per named tensor) and the picture of the graph.
async function render(answer) {
  const grads = { ...(answer.grads || {}), ...(answer.retained || {}) };
  const named = (answer.graph?.nodes || []).filter((n) => n.op !== null).slice(0, 40);
  const rows = [];
  for (const n of named) {
    const v = await call("GET", `/sessions/${session}/tensors/${encodeURIComponent(n.id)}`);
    const tr = document.createElement("tr");
    tr.dataset.id = n.id;
    const cells = [n.id, n.grad_fn || (n.requires_grad ? "(leaf)" : ""),
      JSON.stringify(n.shape), v.ok ? fmt(v.body) : "?",
      n.id in grads ? fmt(grads[n.id]) : ""];
    cells.forEach((text, k) => {
      const td = document.createElement("td");
      td.textContent = text;
      td.className = ["id", "grad_fn", "shape", "value", "grad"][k];
      tr.append(td);
    });
    rows.push(tr);
  }
  $("tensors_table").tBodies[0].replaceChildren(...rows);
  await drawGraph();
}

async function drawGraph() {
  const box = $("graph");
  const svg = await call("GET", `/sessions/${session}/graph?format=svg`);
  if (svg.ok) {
    const doc = new DOMParser().parseFromString(svg.body, "image/svg+xml");
    box.replaceChildren(document.importNode(doc.documentElement, true));
    return;
  }
  // no Graphviz on the server (406): the same drawing as a list
  const res = await call("GET", `/sessions/${session}/graph?format=json`);
  if (!res.ok) return status(problemText(res), true);
  const note = document.createElement("p");
  note.textContent = svg.status === 406 ? "(Graphviz is not installed on the server: the graph as a list)" : problemText(svg);
  const list = document.createElement("ul");
  const byId = Object.fromEntries(res.body.nodes.map((b) => [b.id, b]));
  const name = (b) => (b.kind === "leaf" ? b.id : `${b.name} [${b.tensors.map((t) => t.id).join(", ")}]`);
  for (const b of res.body.nodes) {
    const li = document.createElement("li");
    const inputs = res.body.edges.filter((e) => e.to === b.id).map((e) => name(byId[e.from]));
    const norm = b.kind === "leaf" ? b.grad_norm : b.tensors.find((t) => t.grad_norm !== null)?.grad_norm;
    li.textContent = name(b) + (b.shape ? ` ${JSON.stringify(b.shape)}` : "") +
      (inputs.length ? ` <- ${inputs.join(", ")}` : "") +
      (norm !== null && norm !== undefined ? `  |grad| = ${Number(norm).toFixed(4)}` : "");
    list.append(li);
  }
  box.replaceChildren(note, list);
}

async function main() {
  const res = await fetch("/static/playground/seeds.json");
  seeds = await res.json();
  seeds.forEach((s, k) => {
    const opt = document.createElement("option");
    opt.value = String(k);
    opt.textContent = s.name;
    $("seed").append(opt);
  });
  $("seed").addEventListener("change", async () => {
    await endSession();
    useSeed(Number($("seed").value));
  });
  const guard = (fn) => async () => {
    for (const b of ["backward", "again", "zero"]) $(b).dataset.busy = "1";
    try {
      await fn();
    } catch (e) {
      status(String(e), true);
    } finally {
      for (const b of ["backward", "again", "zero"]) delete $(b).dataset.busy;
      document.body.dataset.calls = String(calls);
      actions += 1;
      document.body.dataset.actions = String(actions);
    }
  };
  $("backward").addEventListener("click", guard(firstBackward));
  $("again").addEventListener("click", guard(backward));
  $("zero").addEventListener("click", guard(zeroGrad));
  useSeed(0);
  document.body.dataset.ready = "1";
}

main().catch((e) => status(String(e), true));
