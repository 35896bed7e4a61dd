// Drives the playground in headless Chromium (playwright-core, Debian's chromium) and
// prints what it shows as JSON: the .grad column after one and two backward presses.
// Usage: node drive_playground.mjs <server url> <seed index> <screenshot path>
import { chromium } from "playwright-core";

const [url, seedIndex, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const result = { requests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("request", (r) => result.requests.push(r.url()));
  page.on("pageerror", (e) => { result.pageerror = String(e); });
  await page.goto(`${url}/playground`);
  await page.waitForSelector("body[data-ready='1']");
  await page.selectOption("#seed", seedIndex);
  const grads = async () => page.$$eval("#tensors_table tbody tr", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.id, {
      grad: r.querySelector("td.grad").textContent,
      value: r.querySelector("td.value").textContent,
      grad_fn: r.querySelector("td.grad_fn").textContent }])));
  await page.click("#backward");
  await page.waitForSelector("body[data-actions='1']");
  result.first = await grads();
  await page.click("#again");
  await page.waitForSelector("body[data-actions='2']");
  result.second = await grads();
  result.history = await page.$$eval("#history li", (items) => items.map((i) => i.textContent));
  result.status = await page.textContent("#status");
  result.svg = await page.$$eval("#graph svg", (s) => s.length);
  result.graph_text = await page.textContent("#graph");
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
