// Drives JupyterLab and a feedback page in Debian's headless Chromium through playwright-core
// (no browser download). Called by tests/test_browser_student.py with one JSON argument:
//   {"phase": "student", "url": ".../lab/tree/warmup.ipynb?token=...", "answer": "...", "shots": DIR}
//   {"phase": "feedback", "url": "file:///.../warmup.html", "shots": DIR}
// Prints one JSON line with what it saw; on failure saves a screenshot in `shots` and exits 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = JSON.parse(process.argv[2]);
const executablePath = process.env.GRADKIT_CHROMIUM || "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function kernelIdle(page) {
  // JupyterLab is started with expose_app_in_browser, so the test can wait for the kernel.
  await page.waitForFunction(() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return k && k.status === "idle";
  }, null, { timeout: 60000 });
}

async function student(page) {
  const seen = {};
  await page.goto(args.url);
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 60000 });
  await kernelIdle(page);
  const cells = page.locator(".jp-Notebook .jp-Cell");
  const texts = await cells.allInnerTexts();
  const answerAt = texts.findIndex((t) => t.includes("def softplus"));
  const testAt = texts.findIndex((t) => t.includes("visible test: small inputs"));
  if (answerAt < 0 || testAt < 0) throw new Error(`cells not found: ${answerAt} ${testAt}`);
  // read-only cells: the released test cell cannot be edited (nbgrader's locked cells)
  await cells.nth(testAt).locator(".cm-content").click();
  await page.keyboard.press("End");
  await page.keyboard.insertText("typed_into_a_locked_cell");
  seen.lockedCellKept = !(await cells.nth(testAt).innerText()).includes("typed_into_a_locked_cell");
  await page.keyboard.press("Escape");
  // type the answer into the solution cell
  await cells.nth(answerAt).locator(".cm-content").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(args.answer);
  await page.keyboard.press("Escape");
  // run from the top down to the visible test, as a student would with Shift+Enter
  await cells.nth(0).click();
  await page.keyboard.press("Escape");
  for (let i = 0; i <= testAt; i++) {
    await page.keyboard.press("Shift+Enter");
    await page.waitForTimeout(150);
  }
  await kernelIdle(page);
  await page.waitForFunction((i) => {
    const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[i];
    return /\[\d+\]/.test(cell.querySelector(".jp-InputPrompt").innerText);
  }, testAt, { timeout: 60000 });
  seen.testOutput = await cells.nth(testAt).locator(".jp-Cell-outputWrapper").innerText();
  seen.testPrompt = await cells.nth(testAt).locator(".jp-InputPrompt").innerText();
  // save
  await page.keyboard.press("Control+S");
  await page.waitForFunction(() => !document.querySelector(".jp-mod-dirty"), null, { timeout: 30000 });
  // what the student install shows
  seen.body = await page.locator("body").innerText();
  // Validate (nbgrader's toolbar button)
  await page.getByRole("button", { name: /validate/i }).first().click();
  const dialog = page.locator(".jp-Dialog");
  await dialog.waitFor({ timeout: 120000 });
  await page.waitForFunction(() => !/running|validating/i.test(
    (document.querySelector(".jp-Dialog") || {}).innerText || ""), null, { timeout: 120000 });
  seen.validate = await dialog.innerText();
  await page.screenshot({ path: path.join(args.shots, "validate.png") });
  return seen;
}

async function feedback(page) {
  await page.goto(args.url);
  await page.waitForSelector("table.summary");
  await page.screenshot({ path: path.join(args.shots, "feedback.png"), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });   // a small phone
  await page.screenshot({ path: path.join(args.shots, `feedback-phone-${path.basename(args.url, ".html")}.png`) });
  const phoneWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  // each summary reason: drawn inside the screen's width, and not empty
  const reasons = await page.$$eval("table.summary td.bad", (cells) => cells.map((td) => {
    const box = td.getBoundingClientRect();
    return { text: td.innerText, left: box.left, right: box.right, height: box.height };
  }));
  return {
    phoneWidth,
    reasons,
    summary: await page.locator("table.summary").innerText(),
    text: await page.locator("body").innerText(),
    html: await page.content(),
  };
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "gradkit-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
let code = 0;
try {
  const seen = args.phase === "student" ? await student(page) : await feedback(page);
  process.stdout.write(JSON.stringify(seen) + "\n");
} catch (err) {
  const shot = path.join(args.shots, `failure-${args.phase}.png`);
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  process.stderr.write(`${err.stack}\nscreenshot: ${shot}\n`);
  code = 1;
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
