// portal.mjs - a reviewer signs in, presses Start working, labels images with the keyboard
// (digit key, Enter) and sees the next task or the empty state. The caller (a Python
// integration test) then checks the store for the copies.
//
//   RT_BASE_URL, RT_USER, RT_PASSWORD   (see lib.mjs; the user should be a reviewer)
//   RT_LABELS    comma-separated labels, one task answered per entry, in order (default: one
//                task, answered with its first option). An entry that is not among the task's
//                options fails the run.
//   RT_EXPECT_END   "empty" (after the last answer the empty state must show), "task" (another
//                task must show), or "any" (default)
// RESULT: {"answered": [{"task": ID, "label": L, "option": N}], "end": "task"|"empty",
//          "done_counter": N}
import { run, signIn, env, check, fail, log } from './lib.mjs';

const narrow = process.env.RT_VIEWPORT === 'phone';

await run(narrow ? 'portal-phone' : 'portal', async ({ page, shot, timeout }) => {
  const user = env('RT_USER');
  const labels = env('RT_LABELS', '').split(',').map((s) => s.trim()).filter(Boolean);
  const expectEnd = env('RT_EXPECT_END', 'any');
  const rounds = Math.max(labels.length, 1);

  await signIn(page, user, env('RT_PASSWORD'), { shot, expectPath: '/review' });
  check((await page.locator('#who').textContent()).includes(user), 'the header does not name the user');

  await page.getByRole('button', { name: 'Start working' }).click();
  const taskView = page.locator('#task-view');
  const emptyView = page.locator('#empty-view');
  await page.waitForFunction(() => !document.getElementById('task-view').hidden
    || !document.getElementById('empty-view').hidden);
  check(await taskView.isVisible(), 'Start working showed no task (the queue is empty)');

  const answered = [];
  for (let r = 0; r < rounds; r++) {
    await taskView.waitFor();
    const id = (await page.locator('#task-id').textContent()).trim();
    // Loaded, and fitted to the box by the page (the zoom label then says "Fit NN%").
    await page.waitForFunction(() => {
      const img = document.getElementById('task-image');
      return img.complete && img.naturalWidth > 0 &&
        /^Fit \d+%$/.test(document.getElementById('zoom-level').textContent);
    }, null, { timeout }).catch(() => fail(`task ${id}: the image did not load`));
    const options = await page.locator('#options input[name="label"]').evaluateAll(
      (els) => els.map((e) => e.value));
    check(options.length > 0, `task ${id} shows no options`);
    const want = labels[r] ?? options[0];
    const n = options.indexOf(want) + 1;
    check(n > 0, `task ${id}: "${want}" is not an option (${options.join(', ')})`);
    check(n <= 9, `task ${id}: "${want}" is option ${n}, beyond the keys 1-9`);

    if (r === 0) {
      // Zoom keys: + zooms in, 0 fits again.
      const width = () => page.locator('#task-image').evaluate((i) => i.getBoundingClientRect().width);
      const fitted = await width();
      await page.keyboard.press('+');
      check(!/^Fit/.test(await page.locator('#zoom-level').textContent()), '+ did not zoom in');
      check(await width() > fitted, '+ did not make the image larger');
      await page.keyboard.press('0');
      check(/^Fit/.test(await page.locator('#zoom-level').textContent()), '0 did not fit the image');
      const refit = await width();
      check(Math.abs(refit - fitted) < 1, `0 did not restore the fitted size (${fitted} px, now ${refit} px)`);
    }

    await page.keyboard.press(String(n));
    const checked = await page.evaluate(() => {
      const c = document.querySelector('#options input[name="label"]:checked');
      return c ? c.value : null;
    });
    check(checked === want, `key ${n} chose "${checked}", expected "${want}"`);
    if (r === 0) await shot(narrow ? 'portal-phone-task.png' : 'portal-task.png');

    const [resp] = await Promise.all([
      page.waitForResponse((res) => res.url().endsWith(`/api/reviews/${encodeURIComponent(id)}/answer`)
        && res.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ]);
    check(resp.status() === 200, `answer to ${id} got HTTP ${resp.status()}: ${await resp.text()}`);
    const sent = resp.request().postDataJSON();
    check(sent && sent.label === want, `the answer sent ${JSON.stringify(sent)}, expected label ${want}`);
    check(!!resp.request().headers()['x-csrf-token'], 'the answer went without X-CSRF-Token');
    answered.push({ task: id, label: want, option: n });
    log(`answered ${id} = ${want} (key ${n})`);

    // The next task (a different id) or the empty state.
    await page.waitForFunction((prev) => {
      const empty = !document.getElementById('empty-view').hidden;
      const task = !document.getElementById('task-view').hidden;
      return empty || (task && document.getElementById('task-id').textContent.trim() !== prev);
    }, id, { timeout });
    const counter = Number(await page.locator('#done-count').textContent());
    check(counter === r + 1, `the done counter shows ${counter}, expected ${r + 1}`);
    if (r + 1 < rounds)
      check(await taskView.isVisible(), `after ${r + 1} answers no task is left for "${labels[r + 1]}"`);
  }

  const end = (await emptyView.isVisible()) ? 'empty' : 'task';
  if (end === 'empty')
    check((await emptyView.textContent()).includes('No tasks right now'), 'the empty state has no message');
  if (expectEnd !== 'any') check(end === expectEnd, `after the answers: ${end}, expected ${expectEnd}`);
  await shot(narrow ? `portal-phone-end-${end}.png` : `portal-end-${end}.png`);
  return { answered, end, done_counter: answered.length };
}, { viewport: narrow ? { width: 390, height: 780 } : { width: 1280, height: 800 } });
