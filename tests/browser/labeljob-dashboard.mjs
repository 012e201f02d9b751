// labeljob-dashboard.mjs - an admin signs in to the dashboard: the "Labeling jobs" section shows
// the job RT_JOB with its state, labeled/total, per-label counts and each worker's answers and
// quality (a percentage), all as GET /api/label-jobs/NAME says; then the create form refuses a
// job with one label (the server's reason shows) and creates RT_NEW_JOB, which then shows in the
// list (the POST carries the session's CSRF token).
//
//   RT_BASE_URL, RT_USER, RT_PASSWORD   (see lib.mjs; the user must be an admin)
//   RT_JOB       a job that has answers
//   RT_NEW_JOB   the name of the job the form creates; RT_NEW_PREFIX its prefix
// RESULT: {"job": {...status...}, "created": NAME, "refused": REASON}
import { run, signIn, env, check, fail } from './lib.mjs';

await run('labeljob-dashboard', async ({ page, shot, timeout }) => {
  const name = env('RT_JOB');
  const newName = env('RT_NEW_JOB');
  await signIn(page, env('RT_USER'), env('RT_PASSWORD'), { expectPath: '/' });
  await page.locator('body.loaded').waitFor();

  const r = await page.request.get(`/api/label-jobs/${name}`);
  check(r.ok(), `GET /api/label-jobs/${name}: HTTP ${r.status()}`);
  const st = await r.json();
  const card = page.locator(`#label-jobs-list article[data-job="${name}"]`);
  await card.waitFor().catch(() => fail(`the dashboard does not list job ${name}`));
  await card.scrollIntoViewIfNeeded();
  const text = await card.textContent();
  check(text.includes(`${st.labeled} / ${st.total} labeled`), `card says ${JSON.stringify(text)}, status ${JSON.stringify(st)}`);
  check((await card.locator('.lj-state').textContent()) === st.state, 'the state differs');
  for (const [label, n] of Object.entries(st.labels))
    check(text.includes(`${label} ${n}`), `label count ${label} ${n} not shown: ${text}`);
  const rows = await card.locator('.lj-workers tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  check(rows.length === Object.keys(st.workers).length, `worker rows ${JSON.stringify(rows)}`);
  for (const [w, answers, quality] of rows) {
    const v = st.workers[w];
    check(v && String(v.answers) === answers, `worker ${w}: ${answers} answers shown, status ${JSON.stringify(v)}`);
    check(/^\d+(\.\d)?%$/.test(quality), `worker ${w}: quality ${JSON.stringify(quality)} is not a percentage`);
    const pct = Number(quality.slice(0, -1));
    check(Math.abs(pct - v.quality * 100) <= 0.1 + 1e-9, `worker ${w}: ${quality}, status ${v.quality}`);
  }
  await shot('labeljob-dashboard.png');

  // The create form: a refusal (one label) shows the reason, then a good job is created.
  await page.locator('#lj-create summary').click();
  await page.locator('#lj-name').fill(newName);
  await page.locator('#lj-prefix').fill(env('RT_NEW_PREFIX'));
  await page.locator('#lj-labels').fill('only-one');
  await page.locator('#lj-instructions').fill('Label the pictures.');
  await page.locator('#lj-workers').fill('2');
  await page.locator('#lj-submit').click();
  await page.locator('#lj-msg:has-text("Refused")').waitFor({ timeout })
    .catch(async () => fail(`no refusal shown: ${await page.locator('#lj-msg').textContent()}`));
  const refused = await page.locator('#lj-msg').textContent();
  check(refused.includes('2 to 10 labels'), `the refusal does not give the reason: ${refused}`);

  await page.locator('#lj-labels').fill('cat, dog ,bird');
  const [resp] = await Promise.all([
    page.waitForResponse((res) => res.url().endsWith('/api/label-jobs') && res.request().method() === 'POST'),
    page.locator('#lj-submit').click(),
  ]);
  check(resp.status() === 201, `create: HTTP ${resp.status()} ${await resp.text()}`);
  check(!!resp.request().headers()['x-csrf-token'], 'the create went without X-CSRF-Token');
  const sent = resp.request().postDataJSON();
  check(JSON.stringify(sent.labels) === '["cat","dog","bird"]' && sent.workers_per_image === 2 &&
    sent.verify === false && sent.fold === false, `the form sent ${JSON.stringify(sent)}`);
  await page.locator(`#label-jobs-list article[data-job="${newName}"]`).waitFor()
    .catch(() => fail(`the new job ${newName} does not show`));
  check((await page.locator('#lj-msg').textContent()).includes(`Created ${newName}`), 'no confirmation');
  await shot('labeljob-dashboard-created.png');
  return { job: st, created: newName, refused };
});
