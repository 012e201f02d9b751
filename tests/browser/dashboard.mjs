// dashboard.mjs - an admin signs in, finds a finished training in the execution history, opens
// its state graph and checks the path taken is highlighted; then edits a parameter (a refused
// value first, whose reason must show, then a good one) and checks the new value shows and
// survives the auto-refresh. The caller (a Python integration test) then checks that the
// daemon acts on the new value.
//
//   RT_BASE_URL, RT_USER, RT_PASSWORD   (see lib.mjs; the user must be an admin)
//   RT_EXECUTION   the training execution to open (default: the newest training in state DONE)
//   RT_PARAM       parameter to edit (default Minimum-Untrained-Images)
//   RT_PARAM_VALUE the new value (default: the current value + 1)
//   RT_BAD_VALUE   a value the server must refuse (default -1)
// RESULT: {"execution": ID, "path": [STATE...], "param": NAME, "value": V, "refused": REASON,
//          "failed_execution": ID|null}
import { run, signIn, env, check, fail, log } from './lib.mjs';

const narrow = process.env.RT_VIEWPORT === 'phone';

await run(narrow ? 'dashboard-phone' : 'dashboard', async ({ page, shot, timeout }) => {
  await signIn(page, env('RT_USER'), env('RT_PASSWORD'), { expectPath: '/' });
  await page.locator('body.loaded').waitFor();
  await shot(narrow ? 'dashboard-phone.png' : 'dashboard.png');

  const getJson = async (path) => {
    const r = await page.request.get(path);
    check(r.ok(), `GET ${path}: HTTP ${r.status()}`);
    return r.json();
  };

  // ---- the overview's counts are the daemon's ----
  const st = await getJson('/api/status');
  if (st.review) {
    const shown = (await page.locator('#open-tasks').textContent()).trim();
    check(shown === String(st.review.open), `open tasks shown "${shown}", status says ${st.review.open}`);
  }
  if (st.detections) {
    const shown = await page.locator('#detection-counts').textContent();
    check(shown.includes(`${st.detections.accepted ?? 0} accepted`),
      `detections shown "${shown}", status says ${JSON.stringify(st.detections)}`);
  }

  // ---- a finished training's graph ----
  const history = page.locator('#history-body');
  await page.locator('#f-workflow').selectOption('training');
  await page.locator('#f-state').selectOption('DONE');
  await page.locator('#history-body[data-query*="workflow=training"][data-query*="state=DONE"]').waitFor();
  let id = env('RT_EXECUTION', '');
  if (!id) {
    const first = history.locator('button[data-exec]').first();
    await first.waitFor().catch(() => fail('the history shows no training in state DONE'));
    id = (await first.textContent()).trim();
  }
  await history.locator(`button[data-exec="${id}"]`).click();
  const graph = page.locator(`#graph svg.state-graph[data-execution="${id}"]`);
  await graph.waitFor();

  const exec = await getJson(`/api/history/${encodeURIComponent(id)}`);
  check(exec.workflow === 'training' && exec.state === 'DONE', `${id} is ${exec.workflow} ${exec.state}, not a finished training`);
  const path = exec.steps.map((s) => s.state);
  check(path.length >= 2, `${id} has ${path.length} steps`);
  const nodeClass = async (s) => {
    const n = graph.locator(`g.node[data-state="${s}"]`);
    check((await n.count()) === 1, `the graph has no node for state ${s}`);
    return (await n.getAttribute('class')).split(/\s+/);
  };
  for (const s of path) check((await nodeClass(s)).includes('visited'), `state ${s} on the path is not highlighted`);
  for (let i = 1; i < path.length; i++) {
    if (path[i - 1] === path[i]) continue;
    const edge = graph.locator(`path.edge[data-from="${path[i - 1]}"][data-to="${path[i]}"]`);
    check((await edge.count()) >= 1, `no edge ${path[i - 1]} -> ${path[i]} drawn`);
    check((await edge.first().getAttribute('class')).includes('taken'), `edge ${path[i - 1]} -> ${path[i]} is not highlighted`);
  }
  check((await nodeClass(path[path.length - 1])).includes('current'), `the last state ${path[path.length - 1]} is not marked`);
  const wf = (await getJson('/api/workflows')).training;
  const off = wf.states.filter((s) => !path.includes(s));
  check(off.length > 0, 'every state of the workflow is on the path?');
  for (const s of off) {
    const c = await nodeClass(s);
    check(!c.includes('visited') && !c.includes('failed'), `state ${s} is not on the path but highlighted (${c.join(' ')})`);
  }
  check((await graph.locator('g.node.failed').count()) === 0, 'a finished training shows a failed step');
  check(await page.locator('#steps-body tr').count() === path.length, 'the steps table does not list every step');
  await shot(narrow ? 'dashboard-phone-graph.png' : 'dashboard-graph.png', { fullPage: false });
  log(`graph of ${id}: ${path.join(' -> ')}`);

  // ---- a failed execution, when there is one: its failing step is red with the error ----
  let failedId = null;
  await page.locator('#f-state').selectOption('FAILED');
  await page.locator('#history-body[data-query*="state=FAILED"]').waitFor();
  const failedButton = history.locator('button[data-exec]').first();
  if (await failedButton.count()) {
    failedId = (await failedButton.textContent()).trim();
    await failedButton.click();
    const g = page.locator(`#graph svg.state-graph[data-execution="${failedId}"]`);
    await g.waitFor();
    check((await g.locator('g.node.failed').count()) >= 1, `failed execution ${failedId}: no step in red`);
    const fe = await getJson(`/api/history/${encodeURIComponent(failedId)}`);
    const err = fe.error || (fe.steps.find((s) => s.error) || {}).error;
    if (err) {
      const shown = await page.locator('#exec-error').textContent();
      check(shown.includes(err), `failed execution ${failedId}: error "${err}" not shown (shown: "${shown}")`);
    }
    await shot(narrow ? 'dashboard-phone-failed.png' : 'dashboard-failed.png', { fullPage: false });
  }

  // ---- edit a parameter ----
  const name = env('RT_PARAM', 'Minimum-Untrained-Images');
  const row = page.locator(`#params-body tr[data-param="${name}"]`);
  await row.waitFor().catch(() => fail(`the parameters table has no row ${name}`));
  const input = row.locator('.param-input');
  const before = (await getJson('/api/params'))[name];
  const value = env('RT_PARAM_VALUE', typeof before === 'number' ? String(before + 1) : '');
  check(value !== '', `RT_PARAM_VALUE is needed for ${name} (current ${JSON.stringify(before)})`);
  const msg = row.locator('.param-msg');

  const bad = env('RT_BAD_VALUE', '-1');
  await input.fill(bad);
  const [badResp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/params/${name}`) && r.request().method() === 'PUT'),
    input.press('Enter'),
  ]);
  check(badResp.status() === 400, `PUT ${name}=${bad} answered ${badResp.status()}, expected 400`);
  const reason = (await badResp.json()).error;
  await page.waitForFunction((el) => /Refused/.test(el.textContent), await msg.elementHandle());
  const shownReason = await msg.textContent();
  check(!reason || shownReason.includes(reason), `the refusal shows "${shownReason}", the server said "${reason}"`);
  check(String((await getJson('/api/params'))[name]) === String(before), `${name} changed after a refused value`);

  await input.fill(value);
  const [okResp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/params/${name}`) && r.request().method() === 'PUT'),
    input.press('Enter'),
  ]);
  check(okResp.status() === 200, `PUT ${name}=${value} answered ${okResp.status()}: ${await okResp.text()}`);
  check(!!okResp.request().headers()['x-csrf-token'], 'the PUT went without X-CSRF-Token');
  await page.waitForFunction((el) => /Saved/.test(el.textContent), await msg.elementHandle());
  const after = (await getJson('/api/params'))[name];
  check(String(after) === value, `the server has ${name}=${JSON.stringify(after)}, expected ${value}`);

  // Typing in another field survives the auto-refresh; the saved value still shows after it.
  const other = page.locator('#params-body tr[data-param]:not([data-param="' + name + '"]) input.param-input').first();
  let typed = null;
  if (await other.count()) {
    typed = '12345';
    await other.fill(typed);
  }
  const stamp = await page.locator('#updated').textContent();
  await page.waitForFunction((s) => document.getElementById('updated').textContent !== s, stamp,
    { timeout: Math.max(timeout, 12000) });
  await page.waitForTimeout(300);
  check((await input.inputValue()) === value, `after a refresh ${name} shows "${await input.inputValue()}", expected ${value}`);
  if (typed !== null) {
    check((await other.inputValue()) === typed, 'the auto-refresh overwrote a value being typed');
    await other.press('Escape');
  }
  await row.scrollIntoViewIfNeeded();
  await shot(narrow ? 'dashboard-phone-params.png' : 'dashboard-params.png', { fullPage: false });

  // A reload shows the new value from the server.
  await page.reload();
  await page.locator('body.loaded').waitFor();
  check((await input.inputValue()) === value, `after a reload ${name} shows "${await input.inputValue()}"`);
  log(`${name}: ${JSON.stringify(before)} -> ${value} (refused ${bad}: ${reason})`);
  return { execution: id, path, param: name, value, refused: reason, failed_execution: failedId };
}, { viewport: narrow ? { width: 390, height: 780 } : { width: 1280, height: 800 } });
