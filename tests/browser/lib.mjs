// lib.mjs - shared plumbing of the browser scripts: launching Debian's Chromium through
// playwright-core, signing in, screenshots as artifacts, and the RESULT line the Python side reads.
//
// Environment (every script):
//   RT_BASE_URL     the server, e.g. http://127.0.0.1:41234 (required; loopback only)
//   RT_USER, RT_PASSWORD   who signs in (required)
//   RT_ARTIFACTS    folder for screenshots (default $RETRAIND_BUILD/artifacts/browser, else
//                   ./artifacts); created if missing
//   RT_CHROMIUM     the browser (default /usr/bin/chromium)
//   RT_TIMEOUT_MS   how long one wait may take (default 15000)
//   RT_HEADED=1     show the window (needs a display; for debugging)
// Exit status: 0 passed, 1 a check failed (the message and a *-failure.png say which), 77 the
// browser or playwright-core is missing (a skip for ctest).
import fs from 'node:fs';
import path from 'node:path';

export const env = (name, dflt) => {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (dflt === undefined) fail(`${name} is not set`);
  return dflt;
};

export function fail(msg) {
  const e = new Error(msg);
  e.check = true;
  throw e;
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

export function log(...a) {
  process.stderr.write(`[browser] ${a.join(' ')}\n`);
}

let playwright;
try {
  playwright = await import('playwright-core');
} catch (e) {
  process.stderr.write(
    'SKIP: playwright-core is not installed (run tests/browser/install.sh)\n');
  process.exit(77);
}

const FLAGS = [
  // As root Chromium refuses to start with its sandbox; the machine's closed network refuses
  // background connections, so they are turned off rather than left to fail.
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

// Runs body({page, context, base, shot}) in a fresh browser; prints RESULT <json> of what body
// returns; saves NAME-failure.png when a check fails. Console errors, page errors and CSP
// violations fail the run, and so does any request to a host other than RT_BASE_URL's.
export async function run(name, body, { viewport = { width: 1280, height: 800 } } = {}) {
  const base = env('RT_BASE_URL').replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const exe = env('RT_CHROMIUM', '/usr/bin/chromium');
  if (!fs.existsSync(exe)) {
    process.stderr.write(`SKIP: no browser at ${exe} (Debian package chromium)\n`);
    process.exit(77);
  }
  const dir = env('RT_ARTIFACTS',
    process.env.RETRAIND_BUILD ? path.join(process.env.RETRAIND_BUILD, 'artifacts', 'browser')
      : path.resolve('artifacts'));
  fs.mkdirSync(dir, { recursive: true });
  const timeout = Number(env('RT_TIMEOUT_MS', '15000'));

  const browser = await playwright.chromium.launch({
    executablePath: exe,
    headless: process.env.RT_HEADED !== '1',
    args: FLAGS,
    timeout: 60000,
  });
  const context = await browser.newContext({ viewport, baseURL: base });
  context.setDefaultTimeout(timeout);
  const problems = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith('data:') || u.startsWith('blob:') || new URL(u).origin === origin)
      return route.continue();
    problems.push(`request to another origin: ${u}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    // The answers the pages handle themselves (a refused value, a wrong password, an answered
    // task) are logged by Chromium as failed loads; anything else is a problem (a 404 for a
    // page's own file, a 503, a CSP violation, a script error).
    if (m.type() !== 'error') return;
    const handled = /status of (400|401|409|429)/.test(m.text()) ||
      /\/favicon\.(ico|svg)$/.test(m.location().url || ''); // the browser's own request
    if (!handled) problems.push(`console error: ${m.text()} (${m.location().url || 'page'})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  const shots = [];
  const shot = async (file, opts = {}) => {
    const p = path.join(dir, file);
    await page.screenshot({ path: p, fullPage: true, ...opts });
    shots.push(p);
    log(`screenshot ${p}`);
  };

  let code = 0;
  try {
    const out = await body({ page, context, base, shot, timeout });
    check(problems.length === 0, `the page reported problems:\n  ${problems.join('\n  ')}`);
    process.stdout.write(`RESULT ${JSON.stringify({ ...(out || {}), screenshots: shots })}\n`);
    log(`${name}: passed`);
  } catch (e) {
    code = 1;
    process.stderr.write(`FAIL ${name}: ${e.check ? e.message : e.stack || e}\n`);
    if (problems.length) process.stderr.write(`  also: ${problems.join('\n  also: ')}\n`);
    try {
      await shot(`${name}-failure.png`);
    } catch (e2) {
      /* no page to show */
    }
  } finally {
    await browser.close();
  }
  process.exit(code);
}

// Signs in through the real form (the csrf field is filled by login.js from the cookie) and
// waits for the page the server redirects to.
export async function signIn(page, user, password, { shot, expectPath } = {}) {
  await page.goto('/login');
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  const csrf = await page.locator('#csrf').inputValue();
  check(csrf.length > 0, 'login.js did not fill the csrf field from the rt_login_csrf cookie');
  if (shot) await shot('login.png');
  await Promise.all([
    page.waitForURL((u) => u.pathname !== '/login'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]).catch(async () => {
    const err = await page.locator('#login-error').textContent().catch(() => '');
    fail(`sign-in as ${user} did not leave /login${err ? `: "${err}"` : ''}`);
  });
  const at = new URL(page.url()).pathname;
  if (expectPath) check(at === expectPath, `after sign-in as ${user}: at ${at}, expected ${expectPath}`);
  // The page has loaded its session (common.js adds .ready once set up).
  await page.locator('body.ready').waitFor();
  return at;
}
