// labeljob.mjs - a reviewer signs in, presses Start working and answers labeling-job tasks with
// the keyboard: each task must show the job's instructions, the good and the bad example images
// (loaded: naturalWidth > 0) with their descriptions, clearly marked "Good example" / "Bad
// example", and the job's labels with their keys. A verification task (RT_VERIFY_LABEL) must
// show "Current label: X" and its first option must read "Correct (X)".
//
//   RT_BASE_URL, RT_USER, RT_PASSWORD   (see lib.mjs; the user should be a reviewer)
//   RT_JOB           the job's name (every task shown must belong to it)
//   RT_INSTRUCTIONS  the job's instructions (shown exactly)
//   RT_GOOD_TEXT, RT_BAD_TEXT   the examples' descriptions (empty: that example is not shown)
//   RT_LABELS        comma-separated labels, one task answered per entry, in order
//   RT_VERIFY_LABEL  the current label of a verification job's tasks (optional)
//   RT_EXPECT_END    "empty", "task" or "any" (default), as in portal.mjs
//   RT_ARTIFACTS_PREFIX   put before the screenshots' names (a second run in one test)
// RESULT: {"answered": [{"task": ID, "label": L, "key": K}], "end": "task"|"empty",
//          "screenshots": [...]}
import { run, signIn, env, check, fail, log } from './lib.mjs';

await run('labeljob', async ({ page, shot, timeout }) => {
  const user = env('RT_USER');
  const job = env('RT_JOB');
  const instructions = env('RT_INSTRUCTIONS');
  const goodText = env('RT_GOOD_TEXT', '');
  const badText = env('RT_BAD_TEXT', '');
  const verifyLabel = env('RT_VERIFY_LABEL', '');
  const labels = env('RT_LABELS').split(',').map((s) => s.trim()).filter(Boolean);
  const expectEnd = env('RT_EXPECT_END', 'any');
  const pre = env('RT_ARTIFACTS_PREFIX', '');

  await signIn(page, user, env('RT_PASSWORD'), { shot, expectPath: '/review' });
  await page.getByRole('button', { name: 'Start working' }).click();
  const taskView = page.locator('#task-view');
  const emptyView = page.locator('#empty-view');
  await page.waitForFunction(() => !document.getElementById('task-view').hidden
    || !document.getElementById('empty-view').hidden, null, { timeout });
  check(await taskView.isVisible(), 'Start working showed no task (the queue is empty)');

  const answered = [];
  for (let r = 0; r < labels.length; r++) {
    await taskView.waitFor();
    const id = (await page.locator('#task-id').textContent()).trim();
    check((await page.locator('#task-source').textContent()).trim() === 'labeling-job',
      `task ${id} is not a labeling-job task`);
    check((await page.locator('#job-title').textContent()).includes(job),
      `task ${id} does not name the job ${job}`);
    check(await page.locator('#job-title').isVisible(), 'the job title is hidden');

    // The instructions, shown prominently (the job's style) and exactly.
    const ins = page.locator('#task-instructions');
    check((await ins.textContent()) === instructions,
      `instructions show ${JSON.stringify(await ins.textContent())}, want ${JSON.stringify(instructions)}`);
    check(await ins.evaluate((e) => e.classList.contains('job-instructions')),
      'the instructions are not set apart as a job\'s');

    // The examples: both images loaded, each marked and described.
    const nExamples = (goodText ? 1 : 0) + (badText ? 1 : 0);
    await page.waitForFunction((n) => {
      const imgs = [...document.querySelectorAll('#task-examples img')];
      const main = document.getElementById('task-image');
      return imgs.length === n && imgs.every((i) => i.complete && i.naturalWidth > 0) &&
        main.complete && main.naturalWidth > 0;
    }, nExamples, { timeout }).catch(() => fail(`task ${id}: the image or the ${nExamples} example images did not load`));
    check(await page.locator('#task-examples').isVisible() === nExamples > 0,
      `the examples box is ${nExamples ? 'hidden' : 'shown without examples'}`);
    for (const [which, text, mark] of [['good', goodText, 'Good example'], ['bad', badText, 'Bad example']]) {
      const fig = page.locator(`#example-${which}`);
      if (!text) {
        check(await fig.count() === 0, `the ${which} example is shown, but the job has none`);
        continue;
      }
      check(await fig.isVisible(), `the ${which} example is not visible`);
      check((await fig.locator('.example-mark').textContent()).includes(mark), `no "${mark}" mark`);
      check((await fig.locator('figcaption').textContent()) === text,
        `the ${which} example's text is ${JSON.stringify(await fig.locator('figcaption').textContent())}`);
      const w = await fig.locator('img').evaluate((i) => i.naturalWidth);
      check(w > 0, `the ${which} example image has naturalWidth ${w}`);
      const box = await fig.locator('img').boundingBox();
      check(box && box.width > 20 && box.height > 20, `the ${which} example is too small to see`);
    }

    // Options, each with its key; a verification task's current label first, as "Correct (X)".
    const options = await page.locator('#options input[name="label"]').evaluateAll(
      (els) => els.map((e) => e.value));
    const texts = await page.locator('#options .option-text').allTextContents();
    const keys = await page.locator('#options .option kbd').allTextContents();
    check(keys.length === Math.min(options.length, 10) &&
      keys.every((k, i) => k === String((i + 1) % 10)), `option keys ${JSON.stringify(keys)}`);
    if (!verifyLabel) {
      check(!(await page.locator('#task-model').textContent()).includes('Current label'),
        'a labeling task says "Current label"');
      check(!texts.some((t) => t.startsWith('Correct (')), 'a labeling task offers "Correct (X)"');
    }
    if (verifyLabel) {
      check((await page.locator('#task-model').textContent()).includes(`Current label: ${verifyLabel}`),
        'no "Current label" line');
      check(options[0] === verifyLabel && texts[0] === `Correct (${verifyLabel})`,
        `first option ${JSON.stringify(texts[0])} (value ${options[0]})`);
    }
    const want = labels[r];
    const n = options.indexOf(want) + 1;
    check(n > 0 && n <= 10, `task ${id}: "${want}" is not among the keyed options (${options.join(', ')})`);
    const key = String(n % 10);
    await page.keyboard.press(key);
    const checked = await page.evaluate(() => {
      const c = document.querySelector('#options input[name="label"]:checked');
      return c ? c.value : null;
    });
    check(checked === want, `key ${key} chose "${checked}", expected "${want}"`);
    if (r === 0) await shot(`${pre}labeljob-task.png`);

    const [resp] = await Promise.all([
      page.waitForResponse((res) => res.url().endsWith(`/api/reviews/${encodeURIComponent(id)}/answer`)
        && res.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ]);
    check(resp.status() === 200, `answer to ${id} got HTTP ${resp.status()}: ${await resp.text()}`);
    const sent = resp.request().postDataJSON();
    check(sent && sent.label === want, `the answer sent ${JSON.stringify(sent)}, expected label ${want}`);
    answered.push({ task: id, label: want, key });
    log(`answered ${id} = ${want} (key ${key})`);

    await page.waitForFunction((prev) => {
      const empty = !document.getElementById('empty-view').hidden;
      const task = !document.getElementById('task-view').hidden;
      return empty || (task && document.getElementById('task-id').textContent.trim() !== prev);
    }, id, { timeout });
    if (r + 1 < labels.length)
      check(await taskView.isVisible(), `after ${r + 1} answers no task is left`);
  }

  const end = (await emptyView.isVisible()) ? 'empty' : 'task';
  if (expectEnd !== 'any') check(end === expectEnd, `after the answers: ${end}, expected ${expectEnd}`);
  await shot(`${pre}labeljob-end-${end}.png`);
  return { answered, end };
}, { viewport: { width: 1280, height: 800 } });
