// review.js - the review portal: one task at a time from GET /api/reviews/next, answered with
// POST /api/reviews/ID/answer {"label"} (X-CSRF-Token from GET /api/session).
// Keys: 1-9 choose an option (0 the tenth, when a task has ten), Enter submits, + / - zoom, 0
// fits the image (tasks with fewer than ten options).
// A labeling job's task (source "labeling-job") shows the job's instructions prominently and its
// good and bad example images with their descriptions; a verification job's task (job_kind
// "verify") shows "Current label: X" (its detected_label) and its first option reads "Correct (X)".
'use strict';

(function () {
  const { el, clear, api, say } = window.RT;
  const RETRY_MS = 4000; // how often an empty queue is asked again
  const ZOOMS = [0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32];
  const MAX_ZOOM = 32;

  const $ = (id) => document.getElementById(id);
  const state = {
    task: null, // the task shown
    done: 0, // answers submitted on this page
    busy: false, // a request for the task view is running
    zoom: 0, // 0 = fit, else the scale
    retryTimer: 0,
    working: false, // Start working pressed (and not paused)
    loading: false, // GET /api/reviews/next is running
  };

  function show(view) {
    for (const id of ['start-view', 'empty-view', 'task-view']) $(id).hidden = id !== view;
  }

  function setOpen(n) {
    $('open-count').textContent = Number.isFinite(n) ? String(n) : '—';
  }

  function stopRetry() {
    if (state.retryTimer) clearTimeout(state.retryTimer);
    state.retryTimer = 0;
  }

  // ---- loading tasks ----------------------------------------------------------------------

  async function next() {
    stopRetry();
    if (!state.working || state.loading) return;
    state.loading = true;
    state.busy = true;
    say($('page-error'), '');
    let res;
    try {
      res = await api('GET', '/api/reviews/next');
    } catch (e) {
      state.busy = false;
      state.loading = false;
      if (e.status === 401) return;
      // Keep asking: the daemon may be restarting. The last task is not left on screen (it
      // is answered or no longer ours).
      state.task = null;
      show(null);
      say($('page-error'), `Could not load the next task: ${e.message}. Trying again…`, 'error');
      state.retryTimer = setTimeout(next, RETRY_MS);
      return;
    }
    state.busy = false;
    state.loading = false;
    if (!state.working) return;
    if (res.status === 204 || !res.data || !res.data.id) {
      state.task = null;
      show('empty-view');
      if (res.data && Number.isFinite(res.data.open)) setOpen(res.data.open);
      say($('empty-status'), `Last checked ${new Date().toLocaleTimeString()}.`);
      state.retryTimer = setTimeout(next, RETRY_MS);
      return;
    }
    render(res.data);
  }

  function exampleFigure(which, ex) {
    const good = which === 'good';
    const title = good ? 'Good example' : 'Bad example';
    const img = el('img', { src: ex.image, alt: `${title}${ex.text ? ': ' + ex.text : ''}`,
      class: 'example-image' });
    return el('figure', { class: `example example-${which}`, id: `example-${which}` },
      el('span', { class: `example-mark ${good ? 'ok' : 'bad'}`, text: (good ? '✓ ' : '✗ ') + title }),
      el('a', { href: ex.image, target: '_blank', rel: 'noopener', title: `${title} (full size)` }, img),
      ex.text ? el('figcaption', { text: ex.text }) : null);
  }

  function renderJob(task) {
    const isJob = task.source === 'labeling-job';
    $('task-view').classList.toggle('job-task', isJob);
    const title = $('job-title');
    if (isJob && task.job) {
      clear(title).append('Labeling job ', el('strong', { text: task.job }));
      title.hidden = false;
    } else {
      title.hidden = true;
    }
    $('task-instructions').classList.toggle('job-instructions', isJob);
    const box = clear($('task-examples'));
    const ex = isJob && task.examples ? task.examples : {};
    for (const which of ['good', 'bad']) {
      if (ex[which] && ex[which].image) box.append(exampleFigure(which, ex[which]));
    }
    box.hidden = !box.firstChild;
  }

  function render(task) {
    state.task = task;
    setOpen(Number(task.open));
    $('task-source').textContent = task.source || 'review';
    $('task-source').className = 'badge ' + (task.source === 'sampling' ? 'badge-sampling' : '');
    $('task-id').textContent = task.id;
    $('task-key').textContent = task.key ? task.key.split('/').pop() : '';
    $('task-key').title = task.key || '';
    const needed = Number(task.answers_needed);
    $('task-answers').textContent = needed > 1
      ? `answer ${Math.min(Number(task.answers) + 1 || 1, needed)} of ${needed}` : '';
    $('task-instructions').textContent =
      task.instructions || 'Choose the label that best describes the image.';

    renderJob(task);
    const model = $('task-model');
    // A verification job's task: detected_label is the image's current label. (A plain job's
    // task may carry a deployed model's guess there: shown as the model's, below.)
    const verify = task.source === 'labeling-job' && task.job_kind === 'verify' &&
      task.detected_label !== null && task.detected_label !== undefined;
    if (verify) {
      clear(model).append('Current label: ', el('strong', { text: task.detected_label }));
      model.hidden = false;
    } else if (task.detected_label !== null && task.detected_label !== undefined) {
      clear(model).append(
        'The model says ',
        el('strong', { text: task.detected_label }),
        task.confidence !== null && task.confidence !== undefined
          ? ` with ${window.RT.percent(task.confidence)} confidence.`
          : '.'
      );
      model.hidden = false;
    } else {
      model.hidden = true;
    }

    const box = clear($('options'));
    (task.options || []).forEach((opt, i) => {
      const id = `opt-${i}`;
      const input = el('input', { type: 'radio', name: 'label', id, value: opt });
      const key = i < 10 ? el('kbd', { text: String((i + 1) % 10), 'aria-hidden': 'true' }) : null;
      const text = verify && i === 0 && opt === task.detected_label ? `Correct (${opt})` : opt;
      box.append(
        el('label', { for: id, class: 'option' + (opt === 'None of the Above' ? ' none-option' : '') },
          input, key, el('span', { class: 'option-text', text }))
      );
    });

    say($('task-error'), '');
    $('skip').hidden = true;
    $('submit').disabled = false;

    const img = $('task-image');
    img.alt = `Image for task ${task.id}`;
    img.classList.add('loading');
    img.removeAttribute('src'); // naturalWidth is 0 until the new image has loaded
    img.style.width = '';
    img.src = task.image || `/api/reviews/${encodeURIComponent(task.id)}/image`;
    setZoom(0);
    show('task-view');
    $('options-box').focus();
  }

  // ---- zoom -------------------------------------------------------------------------------

  function fitScale() {
    const img = $('task-image');
    const box = $('image-box');
    if (!img.naturalWidth || !img.naturalHeight) return 1;
    return Math.min(box.clientWidth / img.naturalWidth, box.clientHeight / img.naturalHeight, MAX_ZOOM);
  }

  function setZoom(z) {
    state.zoom = z;
    const img = $('task-image');
    const box = $('image-box');
    box.classList.toggle('fit', z === 0);
    // Enlarged a lot, the image shows its real pixels instead of a blur.
    img.classList.toggle('pixels', (z || fitScale()) >= 4);
    if (z === 0) {
      // Fit: as large as the box allows, small images enlarged too. Measured with the image
      // at its fitted-down size first, so the scroll bars of a zoomed view are gone.
      img.style.width = '';
      img.style.height = '';
      const f = fitScale();
      img.style.width = img.naturalWidth ? `${Math.floor(img.naturalWidth * f)}px` : '';
      img.style.height = img.naturalWidth ? 'auto' : '';
      $('zoom-level').textContent = img.naturalWidth ? `Fit ${Math.round(f * 100)}%` : 'Fit';
    } else {
      img.style.width = `${Math.round(img.naturalWidth * z)}px`;
      img.style.height = 'auto';
      $('zoom-level').textContent = `${Math.round(z * 100)}%`;
    }
  }

  function zoomBy(dir) {
    const cur = state.zoom || fitScale();
    let z;
    if (dir > 0) z = ZOOMS.find((s) => s > cur * 1.05) || MAX_ZOOM;
    else z = [...ZOOMS].reverse().find((s) => s < cur / 1.05) || ZOOMS[0];
    setZoom(z);
  }

  // ---- answering --------------------------------------------------------------------------

  function chosen() {
    const c = document.querySelector('#options input[name="label"]:checked');
    return c ? c.value : null;
  }

  async function submit() {
    const task = state.task;
    if (!task || state.busy) return;
    const label = chosen();
    if (label === null) {
      say($('task-error'), 'Choose a label first (keys 1–9, 0 for the tenth).', 'error');
      return;
    }
    state.busy = true;
    $('submit').disabled = true;
    say($('task-error'), '');
    try {
      await api('POST', `/api/reviews/${encodeURIComponent(task.id)}/answer`, { label });
      state.done += 1;
      $('done-count').textContent = String(state.done);
      state.busy = false;
      await next();
      return;
    } catch (e) {
      state.busy = false;
      $('submit').disabled = false;
      if (e.status === 401) return;
      let text;
      if (e.status === 409) {
        text = 'This task is already answered (by you, or it needs no more answers).';
        $('submit').disabled = true;
        $('skip').hidden = false;
      } else if (e.status === 404) {
        text = 'This task no longer exists.';
        $('submit').disabled = true;
        $('skip').hidden = false;
      } else if (e.status === 400) {
        text = `The server refused the answer: ${e.message}`;
      } else if (e.status === 403) {
        text = 'The server refused the request (security token). Refreshed it; press Submit again.';
        window.RT.session().catch(() => {});
      } else if (e.status === 0) {
        text = 'Network error: the answer may not have arrived. Check the connection and press ' +
          'Submit again (if it had arrived, the server says so).';
      } else {
        text = `Could not submit: ${e.message}`;
      }
      say($('task-error'), text, 'error');
      if (!$('skip').hidden) $('skip').focus();
    }
  }

  function choose(n) {
    const inputs = document.querySelectorAll('#options input[name="label"]');
    if (n >= 1 && n <= inputs.length) {
      inputs[n - 1].checked = true;
      inputs[n - 1].focus();
      say($('task-error'), '');
    }
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || $('task-view').hidden) return;
    const t = ev.target;
    if (t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && t.type !== 'radio'))) return;
    const k = ev.key;
    const tenOptions = document.querySelectorAll('#options input[name="label"]').length >= 10;
    if (k >= '1' && k <= '9') {
      choose(Number(k));
      ev.preventDefault();
    } else if (k === '0' && tenOptions) {
      choose(10);
      ev.preventDefault();
    } else if (k === 'Enter') {
      // A focused button does its own thing on Enter (Submit submits the form once).
      if (t && (t.tagName === 'BUTTON' || t.tagName === 'A')) return;
      ev.preventDefault();
      submit();
    } else if (k === '+' || k === '=') {
      zoomBy(1);
      ev.preventDefault();
    } else if (k === '-' || k === '_') {
      zoomBy(-1);
      ev.preventDefault();
    } else if (k === '0') {
      setZoom(0);
      ev.preventDefault();
    }
  }

  // Working survives a reload of the page (per tab), so a reviewer does not press Start again.
  const remember = (on) => {
    try {
      if (on) sessionStorage.setItem('rt-working', '1');
      else sessionStorage.removeItem('rt-working');
    } catch (e) {
      /* storage disabled: nothing to remember */
    }
  };

  function start() {
    state.working = true;
    remember(true);
    next();
  }

  function pause() {
    state.working = false;
    remember(false);
    stopRetry();
    state.task = null;
    show('start-view');
    $('start').focus();
  }

  async function init() {
    let sess;
    try {
      sess = await window.RT.session();
    } catch (e) {
      if (e.status !== 401) say($('page-error'), `Could not load the session: ${e.message}`, 'error');
      return;
    }
    window.RT.header(sess, 'review');
    $('start').addEventListener('click', start);
    $('retry').addEventListener('click', next);
    $('pause').addEventListener('click', pause);
    $('skip').addEventListener('click', next);
    $('zoom-in').addEventListener('click', () => zoomBy(1));
    $('zoom-out').addEventListener('click', () => zoomBy(-1));
    $('zoom-fit').addEventListener('click', () => setZoom(0));
    $('task-view').addEventListener('submit', (ev) => {
      ev.preventDefault();
      submit();
    });
    $('task-image').addEventListener('load', () => {
      $('task-image').classList.remove('loading');
      setZoom(state.zoom);
    });
    window.addEventListener('resize', () => {
      if (state.task && state.zoom === 0) setZoom(0);
    });
    $('task-image').addEventListener('error', () => {
      if (!state.task || !$('task-image').getAttribute('src')) return;
      say($('task-error'), 'The image could not be loaded. You can still answer, or go to the next task.', 'error');
      $('skip').hidden = false;
    });
    document.addEventListener('keydown', onKey);
    document.body.classList.add('ready');
    let resume = false;
    try {
      resume = sessionStorage.getItem('rt-working') === '1';
    } catch (e) {
      resume = false;
    }
    if (resume) start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
