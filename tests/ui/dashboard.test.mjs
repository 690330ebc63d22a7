// The dashboard in a real browser: headless Chromium (Debian's) driven by playwright-core,
// against a running understudy on loopback. Screenshots go to target/ui/ (CI artifacts).
//
//   UNDERSTUDY_BIN=target/debug/understudy node --test tests/ui/dashboard.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.UNDERSTUDY_BIN || path.join(root, "target/debug/understudy");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = path.join(root, "target/ui");
const SESSION = "ui-test";

let server;
let base;
let browser;

/** Start understudy on a free port; resolves with its base URL. */
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ["serve", "--port", "0"], {
      env: { ...process.env, RUST_LOG: "info", NO_COLOR: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const timer = setTimeout(() => reject(new Error("understudy did not start in 30 s")), 30_000);
    let seen = "";
    server.stderr.on("data", (chunk) => {
      seen += chunk;
      const m = /listening on (http:\/\/[^\s]+)/.exec(seen);
      if (m && !base) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on("exit", (code) => reject(new Error(`understudy exited (${code}): ${seen}`)));
  });
}

before(async () => {
  base = await startServer();
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    timeout: 60_000,
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
});

/** A request to the mocked API from the test itself (the client under test). */
async function clientGet(p) {
  const r = await fetch(base + p, {
    headers: { Authorization: "Bearer ui-test-token", "X-Understudy-Session": SESSION },
  });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
}

test("a QA run: start a scenario, advance the clock, watch the data and the requests", { timeout: 120_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  await page.goto(`${base}/__understudy/ui?session=${SESSION}`);
  await page.waitForSelector('#available li[data-scenario="failed-rollout"]');

  // Start the scenario through the page.
  await page.click('#available li[data-scenario="failed-rollout"] button[data-action="start"]');
  const scenario = page.locator('.scenario[data-scenario="failed-rollout"]');
  await scenario.waitFor();
  await scenario.locator('li[data-step="deploy"][data-status="fired"]').waitFor();
  await scenario.locator('li[data-step="validating"][data-status="next"]').waitFor();

  // The agent the rollout touches, opened from the step in the data view: Creating.
  const key = await scenario.locator('li[data-step="deploy"] .touched button').first().getAttribute("data-key");
  assert.ok(key, "the deploy step names the entity it touched");
  await scenario.locator('li[data-step="deploy"] .touched button').first().click();
  await page.waitForFunction(() => document.getElementById("entity").textContent.includes('"phase": "Creating"'));

  // Advance the clock through the page: the next step fires, the phase changes.
  await page.fill("#advance-by", "30s");
  await page.click("#advance");
  await scenario.locator('li[data-step="validating"][data-status="fired"]').waitFor();
  await page.waitForFunction(() => document.getElementById("entity").textContent.includes('"phase": "Validating"'));
  const clock = await page.textContent("#clock");
  assert.match(clock, /clock 30 s/);
  await scenario.locator('.axis .mark[data-step="validating"][data-status="fired"]').waitFor();

  // A request from the client under test appears in the live list, with its status.
  const agent = await clientGet(`/pipecat-cloud/v1/agents/${encodeURIComponent(key)}`);
  assert.equal(agent.currentRevision.phase, "Validating");
  const row = page.locator(`#requests tr.row[data-path="/pipecat-cloud/v1/agents/${key}"]`);
  await row.first().waitFor({ timeout: 10_000 });
  assert.equal(await row.first().getAttribute("data-status"), "200");
  // Expanded, it shows the response the client got.
  await row.first().click();
  await page.waitForSelector("#requests tr.detail pre");
  const shown = await page.textContent("#requests tr.detail");
  assert.ok(shown.includes("Validating"), "the expanded row shows the response body");

  // A filter hides what it should.
  await page.selectOption("#filter-status", "4xx");
  assert.equal(await row.count(), 0);
  await page.selectOption("#filter-status", "");

  await page.screenshot({ path: path.join(shots, "dashboard-laptop.png"), fullPage: true });

  // Restart the scenario: its steps run again from the clock's position.
  await scenario.locator('button[data-action="restart"]').click();
  await page.waitForFunction(() => {
    const s = document.querySelector('.scenario[data-scenario="failed-rollout"] li[data-step="validating"]');
    return s && s.dataset.status === "next";
  });

  // Narrow: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a narrow screen`);
  await page.screenshot({ path: path.join(shots, "dashboard-narrow.png"), fullPage: true });

  assert.deepEqual(problems, [], "no script errors, no refused resources");
  await page.close();
});

test("the page is refused to a foreign Host (DNS rebinding)", async () => {
  const url = new URL(base);
  const r = await new Promise((resolve, reject) => {
    import("node:http").then(({ request }) => {
      const req = request({ host: url.hostname, port: url.port, path: "/__understudy/ui", headers: { Host: "evil.example" } }, resolve);
      req.on("error", reject);
      req.end();
    });
  });
  assert.equal(r.statusCode, 403);
  r.resume();
});
