// Drives the course hub (`gradkit hub`) in Debian's headless Chromium through playwright-core (no
// browser download): the hub's own login page, then a student's JupyterLab with nbgrader's Assignments
// panel, or the course's shared formgrader. Called by tests/autograder/integration/test_browser_hub.py
// with one JSON argument; every phase logs in afresh (a new browser profile):
//   {"phase": "student", "url": "http://127.0.0.1:<port>", "login": ..., "password": ..., "course": ...,
//    "assignment": "a0_warmup", "notebook": "warmup", "cells": <how many it has>,
//    "answers": [{"marker": "def softplus(", "code": ...}], "runThrough": "<text of the last cell to run
//    top-down>", "extraCell": "<code>" | null, "xssVar": "<the window variable its script sets>", "shots": DIR}
//      fetch, answer, run, save, Validate, Submit
//   {"phase": "formgrader", ..., "students": [login, login], "open": login, "xssVar": "...", "xssTitle": "..."}
//      JupyterLab's Courses panel, its link to the course's formgrader (a new tab): the submissions
//      listed, one student's submission page opened and inspected (title, a window variable, scripts)
//   {"phase": "feedback", ...}
//      Fetch Feedback in the Assignments panel, open the feedback page it lists
// Prints one JSON line with what it saw; on failure saves a screenshot in `shots` and exits 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = JSON.parse(process.argv[2]);
const executablePath = process.env.GRADKIT_CHROMIUM || "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SPAWN_MS = 150000;   // a server's spawn on a loaded machine
const STEP_MS = 60000;     // anything else one click waits for
const RUN_MS = 120000;     // a kernel run, Validate, a submit

const shot = (page, name) => page.screenshot({ path: path.join(args.shots, `${args.phase}-${args.login}-${name}.png`) })
  .catch(() => {});

async function login(page) {
  await page.goto(`${args.url}/hub/login`, { timeout: STEP_MS });
  await page.fill("#username_input", args.login);
  await page.fill("#password_input", args.password);
  await page.click("#login_submit");
}

async function openLab(page) {
  await login(page);
  // the hub spawns the server (spawn-pending page), then redirects to JupyterLab
  await page.waitForURL(new RegExp(`/user/${args.login}/lab`), { timeout: SPAWN_MS });
  await page.locator("#jp-main-dock-panel").waitFor({ timeout: SPAWN_MS });
  await page.locator("#jp-menu-panel").waitFor({ timeout: STEP_MS });
}

async function nbgraderMenu(page, command) {
  // tried again if the menu closed before the click (answering the news toast closes it)
  const item = page.locator(`#jp-mainmenu-nbgrader li[data-command="${command}"]`);
  await poll(async () => {
    if (!(await item.isVisible())) {
      await page.locator('#jp-menu-panel .lm-MenuBar-itemLabel:text-is("Nbgrader")').click({ timeout: 5000 });
    }
    await item.click({ timeout: 5000 });
    return true;
  }, `the Nbgrader menu's ${command}`);
}

async function openAssignments(page) {
  // nbgrader's "Nbgrader" menu: Assignment List opens (or shows) the Assignments panel
  await nbgraderMenu(page, "nbgrader:open-assignment-list");
  for (const name of ["released", "fetched", "submitted"]) {   // each list loaded (or empty), none failed
    await page.waitForFunction((id) => {
      const loading = document.querySelector(`#${id}_assignments_list_loading`);
      return loading && loading.hidden;
    }, name, { timeout: STEP_MS });
  }
  const errors = await page.locator(".list_error:visible, .version_error:visible").allInnerTexts();
  if (errors.some((t) => t.trim())) throw new Error(`the Assignments panel shows an error: ${errors.join(" | ")}`);
}

async function poll(probe, what, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const listRows = (page, name) => page.locator(`#${name}_assignments_list > .list_item`);

async function rowsText(page, name) {
  return (await listRows(page, name).allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
}

async function kernelIdle(page) {
  // the status bar names the notebook's kernel and its state ("Python 3 (ipykernel) | Idle")
  await page.waitForFunction(() => {
    const bar = document.querySelector("#jp-main-statusbar");
    const text = bar ? bar.innerText : "";
    return /\| Idle/.test(text) && !/No Kernel/.test(text);
  }, null, { timeout: RUN_MS });
}

// waits for `waiting`, but fails at once with the text of a JupyterLab dialog (an error) shown meanwhile
async function orDialog(page, waiting, what) {
  const dialog = page.locator(".jp-Dialog");
  let done = false;
  const watch = dialog.waitFor({ timeout: RUN_MS * 2 }).then(async () => {
    if (!done) throw new Error(`${what}: a dialog came up: ${await dialog.innerText()}`);
  }, () => {});
  try {
    await Promise.race([waiting, watch.then(() => waiting)]);
  } finally {
    done = true;
  }
}

async function closeDialog(page) {
  const dialog = page.locator(".jp-Dialog");
  const text = await dialog.innerText();
  await dialog.locator(".jp-Dialog-button").last().click();
  await dialog.waitFor({ state: "detached", timeout: STEP_MS });
  return text;
}

async function student(page) {
  const seen = {};
  await openLab(page);
  await openAssignments(page);
  seen.released = await rowsText(page, "released");
  const released = listRows(page, "released").filter({ hasText: args.assignment });
  await released.locator('.item_status button:text-is("Fetch")').click({ timeout: STEP_MS });
  const fetched = listRows(page, "fetched").filter({ hasText: args.assignment });
  await fetched.locator('.item_status button:text-is("Submit")').waitFor({ timeout: RUN_MS });
  seen.fetched = await rowsText(page, "fetched");

  // open the notebook from the fetched assignment's list of notebooks
  await fetched.locator("a.assignment-notebooks-link").click();
  await fetched.locator(`.nested_list_item a:text-is("${args.notebook}")`).click({ timeout: STEP_MS });
  const cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell");
  await orDialog(page, cells.first().waitFor({ timeout: STEP_MS }).then(() => kernelIdle(page)), "opening the notebook");
  // JupyterLab attaches the cells a few at a time: wait for all of them
  await page.waitForFunction((n) => document.querySelectorAll(
    ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").length >= n, args.cells, { timeout: STEP_MS });
  seen.cellCount = await cells.count();

  // type each answer into the solution cell that holds its marker
  for (const { marker, code } of args.answers) {
    const at = (await cells.allInnerTexts()).findIndex((t) => t.includes(marker));
    if (at < 0) throw new Error(`no cell with ${JSON.stringify(marker)}`);
    await cells.nth(at).locator(".cm-content").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(code);
    await page.keyboard.press("Escape");
  }
  // run from the top down to runThrough with Shift+Enter, as a student would
  const texts = await cells.allInnerTexts();
  const through = texts.findIndex((t) => t.includes(args.runThrough));
  if (through < 0) throw new Error(`no cell with ${JSON.stringify(args.runThrough)}`);
  await cells.nth(0).click();
  await page.keyboard.press("Escape");
  for (let i = 0; i <= through; i++) {
    await page.keyboard.press("Shift+Enter");
    await page.waitForTimeout(150);
  }
  await page.waitForFunction((n) => {   // every code cell up to `through` has run (a number, not *)
    const all = [...document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")];
    return all.slice(0, n + 1).filter((c) => c.classList.contains("jp-CodeCell"))
      .every((c) => /\[\d+\]/.test(c.querySelector(".jp-InputPrompt").innerText));
  }, through, { timeout: RUN_MS });
  await kernelIdle(page);
  seen.ran = [];
  for (let i = 0; i <= through; i++) {
    const cell = cells.nth(i);
    if (!(await cell.evaluate((c) => c.classList.contains("jp-CodeCell")))) continue;
    seen.ran.push({ prompt: (await cell.locator(".jp-InputPrompt").innerText()).trim(),
      source: (await cell.locator(".jp-InputArea-editor").innerText()).slice(0, 80),
      output: await cell.locator(".jp-Cell-outputWrapper").innerText() });
  }

  // a cell of the student's own below the last one, run in place (Ctrl+Enter)
  if (args.extraCell) {
    await cells.last().locator(".jp-InputPrompt").click();
    await page.keyboard.press("Escape");
    const before = await cells.count();
    await page.keyboard.press("b");
    await page.waitForFunction((n) => document.querySelectorAll(
      ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").length === n + 1, before, { timeout: STEP_MS });
    await page.keyboard.press("Enter");
    await page.keyboard.insertText(args.extraCell);
    await page.keyboard.press("Control+Enter");
    const extra = cells.last();
    await extra.locator(".jp-OutputArea-output").first().waitFor({ timeout: RUN_MS });
    await kernelIdle(page);
    seen.extraOutput = await extra.locator(".jp-Cell-outputWrapper").innerText();
    seen.extraMarkInOwnLab = await extra.locator("#xss-mark").count();
    // the output's script runs in the student's own JupyterLab (their output, trusted there): the
    // payload is live, so its absence on the grader's page below means something
    seen.xssRanInOwnLab = await page.evaluate((v) => window[v] === true, args.xssVar);
    await page.keyboard.press("Escape");
  }

  // save, then nbgrader's Validate (toolbar)
  await page.keyboard.press("Control+S");
  await page.waitForFunction(() => !document.querySelector(".lm-TabBar-tab.jp-mod-dirty"), null, { timeout: STEP_MS });
  await page.locator(".jp-NotebookPanel:visible .jp-NotebookPanel-toolbar .validate-button").click();
  const dialog = page.locator(".jp-Dialog");
  await dialog.waitFor({ timeout: RUN_MS });
  await page.waitForFunction(() => !/running|validating/i.test(
    (document.querySelector(".jp-Dialog") || {}).innerText || ""), null, { timeout: RUN_MS });
  await shot(page, "validate");
  seen.validate = await closeDialog(page);

  // Submit in the Assignments panel
  await openAssignments(page);
  const row = listRows(page, "fetched").filter({ hasText: args.assignment });
  await row.locator('.item_status button:text-is("Submit")').first().click();
  const submitted = listRows(page, "submitted").filter({ hasText: args.assignment });
  await Promise.race([
    submitted.first().waitFor({ timeout: RUN_MS }),
    dialog.waitFor({ timeout: RUN_MS }).then(async () => {
      throw new Error(`Submit failed: ${await dialog.innerText()}`);
    }),
  ]);
  seen.submitted = await rowsText(page, "submitted");
  await shot(page, "submitted");
  return seen;
}

async function feedback(page) {
  const seen = {};
  await openLab(page);
  await openAssignments(page);
  seen.before = await rowsText(page, "submitted");
  const row = listRows(page, "submitted").filter({ hasText: args.assignment });
  await row.locator('button:text-is("Fetch Feedback")').click({ timeout: STEP_MS });
  const view = row.locator('a:has-text("view feedback")');
  await view.first().waitFor({ timeout: RUN_MS });
  seen.after = await rowsText(page, "submitted");
  // "(view feedback)" takes the file browser to the fetched feedback; open its page there
  await view.first().click();
  const file = page.locator(".jp-DirListing-item").filter({ hasText: `${args.notebook}.html` });
  await file.first().waitFor({ timeout: STEP_MS });
  seen.folder = await page.locator(".jp-FileBrowser .jp-BreadCrumbs").first().innerText();
  await file.first().dblclick();
  // JupyterLab's HTML viewer shows it in a frame (untrusted: no scripts)
  const frame = page.frameLocator(".jp-HTMLViewer:visible iframe");
  seen.page = await poll(async () => {
    const text = await frame.locator("body").innerText({ timeout: 2000 });
    return /score/i.test(text) ? text : null;
  }, "the feedback page and its score");
  await shot(page, "feedback");
  return seen;
}

async function formgrader(lab) {
  const seen = {};
  const service = `/services/${args.course}`;
  // the staff's way in: their JupyterLab's Courses panel lists the course's formgrader; its link opens
  // a new tab, the formgrader service's own JupyterLab (through the hub's OAuth) with the Formgrader
  // panel, a frame of /services/<course>/formgrader
  await openLab(lab);
  await nbgraderMenu(lab, "nbgrader:open-course-list");
  const link = lab.locator(`#formgrader_list .list_item a:text-is("${args.course}")`);
  await link.waitFor({ timeout: RUN_MS });
  seen.courses = (await lab.locator("#formgrader_list > .list_item").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
  seen.courseLink = await link.getAttribute("href");
  const [page] = await Promise.all([lab.context().waitForEvent("page", { timeout: STEP_MS }), link.click()]);
  current = page;
  await page.waitForURL(new RegExp(`${service}/lab`), { timeout: SPAWN_MS });
  const fg = page.frameLocator("#formgrader iframe");
  await fg.locator('h1:has-text("Manage Assignments")').waitFor({ timeout: RUN_MS });
  seen.landing = { url: page.url(), tabs: (await page.locator("#jp-main-dock-panel .lm-TabBar-tab").allInnerTexts()) };
  await shot(page, "courses-formgrader");
  // Manage Assignments -> the assignment's submissions (its "# Submissions" link)
  await fg.locator(`a[href$="/formgrader/manage_submissions/${args.assignment}"]`).click({ timeout: STEP_MS });
  seen.listed = await poll(async () => {
    const rows = await fg.locator("table tbody tr").evaluateAll((trs) => trs.map((tr) => ({
      id: ((tr.querySelector("td.student-id") || {}).innerText || "").trim(),
      name: (tr.querySelector("td.student-name") || {}).innerText,
      score: (tr.querySelector("td.score") || {}).innerText,
      status: (tr.querySelector("td.status") || {}).innerText,
    })), null, { timeout: 2000 });
    return args.students.every((l) => rows.some((r) => r.id === l)) ? rows : null;
  }, "both students in Manage Submissions");
  await shot(page, "submissions");
  // the student's name leads to their notebooks, the notebook to the submission's page
  const student = fg.locator("table tbody tr").filter({ has: fg.locator(`td.student-id:text-is("${args.open}")`) });
  await student.locator("td.student-name a").click({ timeout: STEP_MS });
  const notebook = fg.locator(`td.name a:text-is("${args.notebook}")`);
  await notebook.click({ timeout: STEP_MS });
  await fg.locator("#notebook-container").first().waitFor({ timeout: STEP_MS });
  const shown = await poll(async () => page.frames().find((f) => f.url().includes("/formgrader/submissions/")),
    "the submission's page in the Formgrader frame");
  await shown.waitForLoadState("load", { timeout: STEP_MS });
  await page.waitForTimeout(1000);   // a script of the page's would have run by now
  seen.submissionUrl = shown.url();
  seen.frames = [];
  for (const frame of page.frames()) {   // the service's JupyterLab and the formgrader's frame
    seen.frames.push(await frame.evaluate(([v, title]) => ({
      url: location.href,
      title: document.title,
      titleTaken: document.title === title,
      varSet: Object.prototype.hasOwnProperty.call(window, v),
      marks: document.querySelectorAll("#xss-mark").length,
      markText: [...document.querySelectorAll("#xss-mark")].map((e) => e.textContent).join("|"),
      payloadScripts: [...document.querySelectorAll("script")].filter((s) => s.textContent.includes(v)).length,
      text: document.body ? document.body.innerText : "",
    }), [args.xssVar, args.xssTitle]));
  }
  await shot(page, "submission");
  return seen;
}

const phases = { student, feedback, formgrader };
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "gradkit-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(STEP_MS);
context.setDefaultNavigationTimeout(SPAWN_MS);
const page = context.pages()[0] || (await context.newPage());
let current = page;   // the page a failure's screenshot shows
const dialogs = [];
const watchDialogs = (p) => { p.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); }); };
// JupyterLab's "Would you like to get notified about official Jupyter news?" toast covers the lower
// right corner a while after it loads: answer it No whenever it stands in a click's way
const answerNews = (p) => p.addLocatorHandler(p.locator(".Toastify__toast").filter({ hasText: "Jupyter news" }),
  (toast) => toast.getByRole("button", { name: "No", exact: true }).click());
for (const guard of [watchDialogs, answerNews]) {   // on every page this phase opens
  await guard(page);
  context.on("page", guard);
}
let code = 0;
try {
  const seen = await phases[args.phase](page);
  seen.alerts = dialogs;
  process.stdout.write(JSON.stringify(seen) + "\n");
} catch (err) {
  const file = path.join(args.shots, `failure-${args.phase}-${args.login}.png`);
  await current.screenshot({ path: file, fullPage: true }).catch(() => {});
  process.stderr.write(`${err.stack}\nat ${current.url()}\nscreenshot: ${file}\n`);
  code = 1;
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
