// DEVELOPMENT AID, NOT A TEST. A throwaway stand-in for retraind's HTTP server, so the pages in
// src/http/www/ can be developed and the browser scripts tried before the real server exists.
// It serves the same routes with canned data in the JSON shapes of DESIGN.md ("HTTP routes");
// nothing here is evidence that the daemon works. The real checks run the scripts against the
// daemon (tests/integration/*.py).
//
//   node tests/browser/dev/server.mjs [PORT]     (0 or none: a free port; prints the URL)
//   users: alice / alice-pw (reviewer), admin / admin-pw (admin)
//   DEV_TASKS=N   how many review tasks to start with (default 3)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WWW = path.resolve(here, '../../../src/http/www');
const CSP = "default-src 'self'";

const users = {
  alice: { password: 'alice-pw', role: 'reviewer' },
  admin: { password: 'admin-pw', role: 'admin' },
};
const sessions = new Map(); // token -> {user, role, csrf}
const failures = new Map(); // user -> count

const LABELS = ['cat', 'dog', 'fox'];
const OPTIONS = [...LABELS, 'None of the Above'];
const now = Date.now();
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const tasks = [];
for (let i = 0; i < Number(process.env.DEV_TASKS || 3); i++) {
  tasks.push({
    id: `de-${String(1000 + i)}`,
    key: `images_for_detection/img-${i}.png`,
    source: i === 2 ? 'sampling' : 'detection',
    detected_label: LABELS[i % LABELS.length],
    confidence: 40 + i * 7.5,
    options: OPTIONS,
    instructions: 'Which animal is in the picture?',
    answers: {},
    state: 'open',
  });
}

// A labeling job with examples, two of its tasks (one a verification task), and its status.
const labelJobs = [{
  name: 'cats-dogs', kind: 'label', state: 'running', labels: ['cat', 'dog'],
  instructions: 'Choose the animal you see.\nA blurred picture: the animal it most looks like.',
  examples: { good: { image: '/api/label-jobs/cats-dogs/examples/good', text: 'A whole cat, in focus.' },
    bad: { image: '/api/label-jobs/cats-dogs/examples/bad', text: 'Two animals: answer the larger.' } },
}];
labelJobs.push({ name: 'birds-auto', kind: 'label', state: 'done', labels: ['gull', 'tern', 'auk'],
  instructions: 'Which bird?', examples: { good: null, bad: null },
  stats: { machine_labeled: 140, auto_label: { version: 'v3', target_accuracy: 0.95, threshold: 87.5,
    measured_accuracy: 0.962, validation_images: 60, validation_at_threshold: 41, machine_labeled: 140,
    sent_to_people: 60, trained_on: 120 } } });
labelJobs.push({ name: 'check-folders', kind: 'verify', state: 'done', labels: ['cat', 'dog'],
  instructions: 'Is the label right?', examples: { good: null, bad: null },
  stats: { moved: 3, error_rate: { cat: 0.1, dog: 0.05 } } });
tasks.push({ id: 'lj-0000000000000001', key: 'unlabeled/cats-dogs/a.png', source: 'labeling-job',
  job: 'cats-dogs', detected_label: null, confidence: null, options: ['cat', 'dog'],
  instructions: labelJobs[0].instructions, answers: {}, state: 'open' });
tasks.push({ id: 'lj-0000000000000002', key: 'images_labeled_by_folder/dog/b.png', source: 'labeling-job',
  job: 'cats-dogs', detected_label: 'dog', confidence: null, options: ['dog', 'cat'],
  instructions: labelJobs[0].instructions, answers: {}, state: 'open' });

function labelJobStatus(j) {
  const mine = tasks.filter((t) => t.job === j.name);
  const labels = Object.fromEntries(j.labels.map((l) => [l, 0]));
  const workers = {};
  for (const t of mine) {
    if (t.state === 'answered') labels[t.result] = (labels[t.result] || 0) + 1;
    for (const w of Object.keys(t.answers)) workers[w] = { answers: (workers[w]?.answers || 0) + 1, quality: 0.87 };
  }
  return { name: j.name, state: j.state, kind: j.kind, total: mine.length,
    labeled: mine.filter((t) => t.state === 'answered').length,
    answers: mine.reduce((n, t) => n + Object.keys(t.answers).length, 0), machine_labeled: 0,
    labels, workers, output_manifest: null, ...(j.stats || {}) };
}

const params = {
  'Enable-Automatic-Training': true,
  'Automatic-Training-Poll-Frequency': 600,
  'Minimum-Untrained-Images': 10,
  'Minimum-F1-Score': 0.8,
  'Minimum-Inference-Units': 1,
  'Minimum-Label-Detection-Confidence': 70,
  'Enable-A2I-Workflow': true,
  'Enable-Automatic-Human-Sampling': false,
  'Automatic-Human-Sampling-Frequency': 60,
  'Human-Sampling-Interval': 10,
};
const paramKinds = {
  'Enable-Automatic-Training': ['bool'],
  'Automatic-Training-Poll-Frequency': ['minutes'],
  'Minimum-Untrained-Images': ['int', 1, 1e9],
  'Minimum-F1-Score': ['float', 0, 1],
  'Minimum-Inference-Units': ['int', 1, 1000],
  'Minimum-Label-Detection-Confidence': ['float', 0, 100],
  'Enable-A2I-Workflow': ['bool'],
  'Enable-Automatic-Human-Sampling': ['bool'],
  'Automatic-Human-Sampling-Frequency': ['minutes'],
  'Human-Sampling-Interval': ['int', 1, 1e9],
};

const workflows = {
  training: {
    states: ['CHECK', 'MANIFEST', 'TRAIN', 'WAIT_TRAINING', 'EVALUATE', 'START', 'WAIT_RUNNING',
      'SWITCH', 'STOP_OLD', 'DONE', 'NOT_MET', 'FAILED_F1', 'FAILED'],
    // As src/workflow/training.c's table: every step may also fail.
    edges: [['CHECK', 'MANIFEST'], ['CHECK', 'NOT_MET'], ['CHECK', 'FAILED'],
      ['MANIFEST', 'TRAIN'], ['MANIFEST', 'FAILED'], ['TRAIN', 'WAIT_TRAINING'], ['TRAIN', 'FAILED'],
      ['WAIT_TRAINING', 'EVALUATE'], ['WAIT_TRAINING', 'TRAIN'], ['WAIT_TRAINING', 'FAILED'],
      ['EVALUATE', 'START'], ['EVALUATE', 'FAILED_F1'], ['EVALUATE', 'FAILED'],
      ['START', 'WAIT_RUNNING'], ['START', 'FAILED'], ['WAIT_RUNNING', 'SWITCH'],
      ['WAIT_RUNNING', 'FAILED'], ['SWITCH', 'STOP_OLD'], ['SWITCH', 'FAILED'],
      ['STOP_OLD', 'DONE'], ['STOP_OLD', 'FAILED']],
    terminal: ['DONE', 'NOT_MET', 'FAILED_F1', 'FAILED'],
    initial: 'CHECK',
    failed: 'FAILED',
  },
  // As src/workflow/detection.c and sampling.c.
  detection: {
    states: ['DETECT', 'ROUTE', 'ACCEPTED', 'REVIEW', 'WAIT_ANSWER', 'FOLD', 'DONE', 'DISCARD',
      'DUPLICATE', 'FAILED'],
    edges: [['DETECT', 'ROUTE'], ['DETECT', 'DUPLICATE'], ['DETECT', 'FAILED'],
      ['ROUTE', 'ACCEPTED'], ['ROUTE', 'REVIEW'], ['ROUTE', 'FAILED'],
      ['REVIEW', 'WAIT_ANSWER'], ['REVIEW', 'FAILED'], ['WAIT_ANSWER', 'FOLD'],
      ['WAIT_ANSWER', 'DISCARD'], ['WAIT_ANSWER', 'REVIEW'], ['WAIT_ANSWER', 'FAILED'],
      ['FOLD', 'DONE'], ['FOLD', 'FAILED']],
    terminal: ['ACCEPTED', 'DONE', 'DISCARD', 'DUPLICATE', 'FAILED'],
    initial: 'DETECT',
    failed: 'FAILED',
  },
  sampling: {
    states: ['SELECT', 'REVIEW', 'WAIT_ANSWER', 'COMPARE', 'DONE', 'FAILED'],
    edges: [['SELECT', 'REVIEW'], ['SELECT', 'FAILED'], ['REVIEW', 'WAIT_ANSWER'],
      ['REVIEW', 'FAILED'], ['WAIT_ANSWER', 'COMPARE'], ['WAIT_ANSWER', 'REVIEW'],
      ['WAIT_ANSWER', 'FAILED'], ['COMPARE', 'DONE'], ['COMPARE', 'FAILED']],
    terminal: ['DONE', 'FAILED'],
    initial: 'SELECT',
    failed: 'FAILED',
  },
  parameter: {
    states: ['APPLY', 'DONE', 'FAILED'],
    edges: [['APPLY', 'DONE'], ['APPLY', 'FAILED']],
    terminal: ['DONE', 'FAILED'],
    failed: 'FAILED',
  },
};

function steps(list, start, errorAt) {
  return list.map(([state, output], i) => ({
    state,
    at: iso(start + i * 1500),
    output: output || null,
    error: errorAt === state ? 'engine: training data rejected: 0 images of label "fox"' : null,
  }));
}

const executions = [
  {
    id: 'tr-20261203-0003', workflow: 'training', state: 'WAIT_TRAINING',
    started_at: iso(now - 60000), finished_at: null, error: null,
    steps: steps([['CHECK', { images: 40, untrained: 12, needed: 10 }],
      ['MANIFEST', { key: 'manifests/tr-20261203-0003.manifest', images: 40 }],
      ['TRAIN', { version: 'model-tr-20261203-0003' }], ['WAIT_TRAINING']], now - 60000),
  },
  {
    id: 'tr-20261203-0002', workflow: 'training', state: 'FAILED',
    started_at: iso(now - 3600e3), finished_at: iso(now - 3590e3),
    error: 'engine: training data rejected: 0 images of label "fox"',
    steps: steps([['CHECK', { images: 30, untrained: 30, needed: 10 }],
      ['MANIFEST', { key: 'manifests/tr-20261203-0002.manifest', images: 30 }],
      ['TRAIN'], ['FAILED']], now - 3600e3, 'TRAIN'),
  },
  {
    id: 'tr-20261203-0001', workflow: 'training', state: 'DONE',
    started_at: iso(now - 7200e3), finished_at: iso(now - 7100e3), error: null,
    steps: steps([['CHECK', { images: 28, untrained: 28, needed: 10 }],
      ['MANIFEST', { key: 'manifests/tr-20261203-0001.manifest', images: 28 }],
      ['TRAIN', { version: 'model-tr-20261203-0001' }],
      ['WAIT_TRAINING', { status: 'TRAINING_COMPLETED', images_used: 28, images_skipped: 0 }],
      ['EVALUATE', { f1: 0.91, min_f1: 0.8, test_images: 6 }], ['START'], ['WAIT_RUNNING'],
      ['SWITCH', { active: 'model-tr-20261203-0001', previous: null, previous_trained_images: 28 }],
      ['STOP_OLD', { stopped: null }], ['DONE']], now - 7200e3),
  },
  {
    id: 'de-20261203-0004', workflow: 'detection', state: 'WAIT_ANSWER',
    started_at: iso(now - 30000), finished_at: null, error: null,
    steps: steps([['DETECT', { label: 'dog', confidence: 47.5 }], ['ROUTE', { route: 'review' }],
      ['REVIEW', { task: 'de-1001' }], ['WAIT_ANSWER']], now - 30000),
  },
  {
    id: 'de-20261203-0002', workflow: 'detection', state: 'DONE',
    started_at: iso(now - 5000e3), finished_at: iso(now - 4000e3), error: null,
    steps: steps([['DETECT', { label: 'fox', confidence: 52.5 }], ['ROUTE', { route: 'review' }],
      ['REVIEW', { task: 'de-0999' }], ['WAIT_ANSWER', { label: 'fox' }],
      ['FOLD', { key: 'images_labeled_by_folder/fox/humanLoopName-de-0999-img-x.png' }],
      ['DONE']], now - 5000e3),
  },
  {
    id: 'pc-20261203-0001', workflow: 'parameter', state: 'DONE',
    started_at: iso(now - 9000e3), finished_at: iso(now - 9000e3 + 20), error: null,
    steps: steps([['APPLY', { name: 'Minimum-Untrained-Images', value: 10 }], ['DONE']],
      now - 9000e3),
  },
];

const models = [
  { version: 'model-tr-20261203-0001', status: 'RUNNING', f1: 0.91, images: 28,
    created_at: iso(now - 7200e3), deployed_at: iso(now - 7100e3), active: true },
  { version: 'model-tr-20261202-0001', status: 'STOPPED', f1: 0.74, images: 16,
    created_at: iso(now - 90000e3), deployed_at: null, active: false },
];

const detections = [];
for (let i = 0; i < 12; i++) {
  const conf = 30 + ((i * 37) % 70);
  detections.push({
    seq: 100 - i, key: `images_for_detection/img-${i}.png`, label: LABELS[i % 3],
    confidence: conf, route: conf >= 70 ? 'accepted' : i % 4 === 0 ? 'accepted_low' : 'review',
    model_version: 'model-tr-20261203-0001', detected_at: iso(now - i * 61000),
    exec_id: `de-20261203-${String(100 - i).padStart(4, '0')}`,
    task: conf >= 70 ? null : `de-${1000 + (i % 3)}`,
  });
}

function status() {
  return {
    parameters: { ...params },
    labels: { cat: 14, dog: 11, fox: 3 + answeredCount() },
    images_total: 28 + answeredCount(),
    previous_trained_images: 28,
    last_attempted_images: 30,
    untrained_images: answeredCount(),
    active_model: { version: models[0].version, f1: models[0].f1, images: 28,
      deployed_at: models[0].deployed_at },
    in_flight: executions.filter((e) => !e.finished_at).map(({ steps: _s, ...e }) => e),
    next_check_at: iso(now + 600e3),
    agreement: { 'model-tr-20261203-0001': { sampled: 4, agreed: 3, rate: 0.75 } },
  };
}

function answeredCount() {
  return tasks.filter((t) => t.state === 'answered').length;
}

// ---- plumbing ------------------------------------------------------------------------------

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function send(res, status, body, type, extra = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Security-Policy': CSP,
    'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...extra });
  res.end(body);
}
const json = (res, status, v) => send(res, status, JSON.stringify(v), 'application/json');
const redirect = (res, to, extra = {}) => send(res, 303, '', 'text/plain', { Location: to, ...extra });

function page(res, name, status = 200, extra = {}) {
  send(res, status, fs.readFileSync(path.join(WWW, name)), 'text/html; charset=utf-8', extra);
}

// The sign-in form as the real server makes it: {{csrf}} and {{message}} filled (escaped), the
// token also set as the HttpOnly cookie rt_login_csrf (Path=/login).
function loginPage(res, status, message) {
  const t = crypto.randomBytes(16).toString('hex');
  const esc = (x) => x.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = fs.readFileSync(path.join(WWW, 'login.html'), 'utf8')
    .replace('{{csrf}}', t).replace('{{message}}', esc(message || ''));
  send(res, status, html, 'text/html; charset=utf-8',
    { 'Set-Cookie': `rt_login_csrf=${t}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600`,
      ...(status === 429 ? { 'Retry-After': '60' } : {}) });
}

function body(req) {
  return new Promise((resolve) => {
    let b = '';
    req.on('data', (c) => { b += c; });
    req.on('end', () => resolve(b));
  });
}

function image(task) {
  const hue = (parseInt(task.id.replace(/\D/g, ''), 10) * 67) % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480" viewBox="0 0 640 480">
<rect width="640" height="480" fill="hsl(${hue},55%,80%)"/>
<circle cx="320" cy="230" r="150" fill="hsl(${hue},45%,45%)"/>
<text x="320" y="450" font-size="28" text-anchor="middle" font-family="sans-serif">${task.id}</text>
</svg>`;
}

function validParam(name, v) {
  const [kind, lo, hi] = paramKinds[name];
  const text = String(v);
  if (kind === 'bool') {
    if (text === 'true' || text === 'false') return [text === 'true'];
    return [null, `${name}: expected true or false, got "${text}"`];
  }
  if (kind === 'minutes') {
    if (/^\d+$/.test(text) && Number(text) >= 1) return [Number(text)];
    if (/^\d+(ms|s|m|h|d)$/.test(text)) return [text];
    return [null, `${name}: expected minutes or a duration like "90s", got "${text}"`];
  }
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n)))
    return [null, `${name}: expected ${kind === 'int' ? 'a whole number' : 'a number'}, got "${text}"`];
  if (n < lo || n > hi) return [null, `${name}: ${text} is out of range ${lo}..${hi}`];
  return [n];
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  const c = cookies(req);
  const sess = sessions.get(c.rt_session);
  const csrfOk = () => sess && req.headers['x-csrf-token'] === sess.csrf;

  if (p.startsWith('/static/')) {
    const name = p.slice(8);
    if (!/^[a-z0-9_-]+\.(css|js|svg)$/.test(name) || !fs.existsSync(path.join(WWW, name)))
      return send(res, 404, 'not found', 'text/plain');
    const type = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8',
      svg: 'image/svg+xml' }[name.split('.').pop()];
    return send(res, 200, fs.readFileSync(path.join(WWW, name)), type);
  }
  if (p === '/healthz') return send(res, 200, 'ok', 'text/plain');
  if (p === '/login' && req.method === 'GET') {
    return loginPage(res, 200, '');
  }
  if (p === '/login' && req.method === 'POST') {
    const f = new URLSearchParams(await body(req));
    const user = f.get('user') || '';
    if (!c.rt_login_csrf || f.get('csrf') !== c.rt_login_csrf)
      return send(res, 403, 'bad csrf token', 'text/plain');
    if ((failures.get(user) || 0) >= 5) return loginPage(res, 429, 'Too many failed sign-ins; try again later.');
    const u = users[user];
    if (!u || u.password !== f.get('password')) {
      failures.set(user, (failures.get(user) || 0) + 1);
      return loginPage(res, 401, 'Wrong user name or password.');
    }
    const token = crypto.randomBytes(16).toString('hex');
    sessions.set(token, { user, role: u.role, csrf: crypto.randomBytes(16).toString('hex') });
    return redirect(res, u.role === 'admin' ? '/' : '/review',
      { 'Set-Cookie': `rt_session=${token}; Path=/; HttpOnly; SameSite=Strict` });
  }
  if (p === '/logout' && req.method === 'POST') {
    if (sess && csrfOk()) sessions.delete(c.rt_session);
    return redirect(res, '/login', { 'Set-Cookie': 'rt_session=; Path=/; Max-Age=0' });
  }
  if (p === '/review' || p === '/') {
    if (!sess) return redirect(res, '/login');
    if (p === '/' && sess.role !== 'admin') return redirect(res, '/review');
    return page(res, p === '/' ? 'dashboard.html' : 'review.html');
  }
  if (!p.startsWith('/api/')) return send(res, 404, 'not found', 'text/plain');
  if (!sess) return json(res, 401, { error: 'not signed in' });
  if (req.method !== 'GET' && !csrfOk()) return json(res, 403, { error: 'bad CSRF token' });

  if (p === '/api/session') return json(res, 200, sess);
  if (p === '/api/reviews/next') {
    const t = tasks.find((x) => x.state === 'open' && !x.answers[sess.user]);
    if (!t) return send(res, 204, '', 'text/plain');
    const open = tasks.filter((x) => x.state === 'open').length;
    return json(res, 200, { id: t.id, source: t.source, key: t.key, options: t.options,
      answers: Object.keys(t.answers).length, answers_needed: 1,
      instructions: t.instructions, detected_label: t.detected_label, confidence: t.confidence,
      image: `/api/reviews/${t.id}/image`, open, job: t.job || null,
      examples: t.job ? labelJobs.find((j) => j.name === t.job).examples : null });
  }
  const lj = /^\/api\/label-jobs\/([a-z0-9-]+)(?:\/examples\/(good|bad))?$/.exec(p);
  if (lj && req.method === 'GET') {
    const j = labelJobs.find((x) => x.name === lj[1]);
    if (!j) return json(res, 404, { error: 'no such labeling job' });
    if (lj[2]) return send(res, 200, image({ id: lj[2] === 'good' ? '1' : '5' }), 'image/svg+xml');
    return json(res, 200, labelJobStatus(j));
  }
  if (p === '/api/label-jobs' && req.method === 'POST') {
    if (sess.role !== 'admin') return json(res, 403, { error: 'this needs the admin role' });
    let b;
    try { b = JSON.parse(await body(req)); } catch { return json(res, 400, { error: 'the body must be a JSON object' }); }
    if (!b || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(b.name || '')) return json(res, 400, { error: 'bad job name' });
    if (!Array.isArray(b.labels) || b.labels.length < 2 || b.labels.length > 10)
      return json(res, 400, { error: `job ${b.name} needs 2 to 10 labels` });
    if (labelJobs.find((x) => x.name === b.name)) return json(res, 409, { error: `labeling job ${b.name} exists already` });
    labelJobs.unshift({ name: b.name, kind: b.verify ? 'verify' : 'label', state: 'running', labels: b.labels,
      instructions: b.instructions, examples: { good: null, bad: null } });
    return json(res, 201, { name: b.name });
  }
  let m = /^\/api\/reviews\/([A-Za-z0-9-]+)\/(image|answer)$/.exec(p);
  if (m) {
    const t = tasks.find((x) => x.id === m[1]);
    if (!t) return json(res, 404, { error: 'no such task' });
    if (m[2] === 'image') return send(res, 200, image(t), 'image/svg+xml');
    if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
    let b;
    try { b = JSON.parse(await body(req)); } catch { return json(res, 400, { error: 'bad JSON' }); }
    if (!b || !t.options.includes(b.label)) return json(res, 400, { error: 'label is not an option' });
    if (t.answers[sess.user] || t.state !== 'open') return json(res, 409, { error: 'already answered' });
    t.answers[sess.user] = b.label;
    t.state = 'answered';
    t.result = b.label;
    console.log(`dev: ${sess.user} answered ${t.id} = ${b.label}`);
    return json(res, 200, { id: t.id, label: b.label, state: t.state });
  }
  if (sess.role !== 'admin' && p !== '/api/reviews')
    return json(res, 403, { error: 'admin only' });
  if (p === '/api/reviews') {
    const st = url.searchParams.get('state');
    return json(res, 200, tasks.filter((t) => !st || t.state === st).map((t) => ({
      id: t.id, key: t.key, source: t.source, detected_label: t.detected_label,
      confidence: t.confidence, options: t.options, state: t.state, result: t.result || null,
      answers: Object.keys(t.answers).length, answers_needed: 1, created_at: iso(now - 600e3),
      answered_at: null })));
  }
  if (p === '/api/label-jobs') return json(res, 200, labelJobs.map((j) => {
    const st = labelJobStatus(j);
    return { name: j.name, kind: j.kind, state: j.state, total: st.total, labeled: st.labeled };
  }));
  if (p === '/api/status') return json(res, 200, status());
  if (p === '/api/models') return json(res, 200, models);
  if (p === '/api/workflows') return json(res, 200, workflows);
  if (p === '/api/params' && req.method === 'GET') return json(res, 200, params);
  m = /^\/api\/params\/([A-Za-z0-9-]+)$/.exec(p);
  if (m && req.method === 'PUT') {
    if (!(m[1] in params)) return json(res, 404, { error: `unknown parameter "${m[1]}"` });
    let b;
    try { b = JSON.parse(await body(req)); } catch { return json(res, 400, { error: 'bad JSON' }); }
    const [v, why] = validParam(m[1], b && b.value);
    if (why) return json(res, 400, { error: why });
    params[m[1]] = v;
    return json(res, 200, { name: m[1], value: v });
  }
  if (p === '/api/history') {
    const wf = url.searchParams.get('workflow');
    const st = url.searchParams.get('state');
    if (wf && !workflows[wf]) return json(res, 400, { error: `unknown workflow "${wf}"` });
    const limit = Number(url.searchParams.get('limit') || 100);
    return json(res, 200, executions
      .filter((e) => (!wf || e.workflow === wf) && (!st || e.state === st)).slice(0, limit));
  }
  m = /^\/api\/history\/([A-Za-z0-9-]+)$/.exec(p);
  if (m) {
    const e = executions.find((x) => x.id === m[1]);
    return e ? json(res, 200, e) : json(res, 404, { error: 'no such execution' });
  }
  if (p === '/api/detections') {
    const label = url.searchParams.get('label');
    const route = url.searchParams.get('route');
    return json(res, 200, detections.filter((d) => (!label || d.label === label) &&
      (!route || d.route === route)).slice(0, Number(url.searchParams.get('limit') || 100)));
  }
  return json(res, 404, { error: 'no such route' });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`dev server (not a test): http://127.0.0.1:${server.address().port}`);
});
