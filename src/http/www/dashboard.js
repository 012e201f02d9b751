// dashboard.js - the admin dashboard: overview cards (/api/status), model versions (/api/models),
// in-flight work, execution history (/api/history) with each execution drawn on its workflow's
// state graph (/api/workflows), the detection and review logs (/api/detections, /api/reviews),
// the labeling jobs (/api/label-jobs and /api/label-jobs/NAME, created with POST /api/label-jobs)
// and the parameters (/api/params, edited with PUT /api/params/NAME).
// Refreshes every few seconds; a refresh never touches a field the user is editing.
'use strict';

(function () {
  const { el, clear, api, say } = window.RT;
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);

  const PARAM_HELP = {
    'Enable-Automatic-Training': 'the scheduled training check runs (true/false)',
    'Automatic-Training-Poll-Frequency': 'how often the check runs (minutes, or e.g. "90s")',
    'Minimum-Untrained-Images': 'new images needed since the last successful training',
    'Minimum-F1-Score': 'a trained version below it is not deployed (0..1)',
    'Minimum-Inference-Units': 'inference units the deployed version starts with',
    'Minimum-Label-Detection-Confidence': 'below it a detection goes to review (0..100)',
    'Enable-A2I-Workflow': 'low-confidence detections create review tasks (true/false)',
    'Enable-Automatic-Human-Sampling': 'audit sampling runs (true/false)',
    'Automatic-Human-Sampling-Frequency': 'how often sampling runs (minutes, or e.g. "90s")',
    'Human-Sampling-Interval': 'sample every Nth detection',
  };

  const view = {
    workflows: null, // GET /api/workflows
    last: {}, // last JSON text per table, to skip re-rendering what did not change
    exec: null, // the execution shown in the detail panel
    params: new Map(), // name -> row state
    labels: new Set(),
    routes: new Set(['accepted', 'accepted_low', 'review']),
    timer: 0,
    agreement: null, // status' sampling agreement, whatever its shape
    seenStates: new Map(), // workflow -> states seen in the history (when /api/workflows is missing)
    gen: 0, // refresh generation: only the newest refresh renders
  };

  // ---- helpers ----------------------------------------------------------------------------

  function changed(key, data) {
    const text = JSON.stringify(data);
    if (view.last[key] === text) return false;
    view.last[key] = text;
    return true;
  }

  function stateClass(s) {
    const u = String(s || '').toUpperCase();
    if (u.startsWith('FAILED')) return 'state s-failed';
    if (u === 'DONE' || u === 'ACCEPTED') return 'state s-done';
    return 'state';
  }

  function execButton(id) {
    if (!id) return '—';
    return el('button', { type: 'button', class: 'link mono', text: id, dataset: { exec: id },
      'aria-label': `Show execution ${id}` });
  }

  function emptyRow(tbody, cols, text) {
    tbody.append(el('tr', { class: 'empty-row' }, el('td', { colspan: cols, text })));
  }

  function fillSelect(select, values) {
    const keep = select.value;
    const have = new Set([...select.options].map((o) => o.value));
    for (const v of values) if (!have.has(v)) select.append(el('option', { value: v, text: v }));
    select.value = keep;
  }

  function setStates(select, wf) {
    const keep = select.value;
    const states = new Set();
    for (const [name, w] of Object.entries(view.workflows || {}))
      if (!wf || wf === name) for (const s of w.states || []) states.add(s);
    if (!view.workflows)
      for (const [name, seen] of view.seenStates) if (!wf || wf === name) for (const s of seen) states.add(s);
    clear(select).append(el('option', { value: '', text: 'all' }));
    for (const s of [...states].sort()) select.append(el('option', { value: s, text: s }));
    select.value = states.has(keep) ? keep : '';
  }

  // ---- overview ---------------------------------------------------------------------------

  function renderStatus(st) {
    const labels = st.labels || {};
    Object.keys(labels).forEach((l) => view.labels.add(l));
    $('images-total').textContent = st.images_total ?? '—';
    const bars = clear($('label-bars'));
    const max = Math.max(1, ...Object.values(labels).map(Number));
    for (const [name, n] of Object.entries(labels).sort((a, b) => b[1] - a[1])) {
      bars.append(el('li', {},
        el('span', { class: 'bar-label', text: name, title: name }),
        el('meter', { min: 0, max, value: n, 'aria-label': `${name}: ${n} images` }),
        el('span', { class: 'bar-count', text: n })));
    }
    if (!Object.keys(labels).length) bars.append(el('li', { class: 'muted', text: 'no labeled images yet' }));

    $('untrained').textContent = st.untrained_images ?? '—';
    const need = st.parameters && st.parameters['Minimum-Untrained-Images'];
    $('untrained-sub').textContent = `${st.previous_trained_images ?? 0} in the deployed model` +
      (need !== undefined ? `; training needs ${need}` : '');
    $('next-check').textContent = st.next_check_at
      ? `next check ${window.RT.time(st.next_check_at)} (${window.RT.ago(st.next_check_at)})` : '';

    const m = st.active_model;
    $('active-f1').textContent = m ? `F1 ${window.RT.f1(m.f1)}` : '—';
    $('active-version').textContent = m ? m.version : 'no model deployed';
    $('active-deployed').textContent = m
      ? `${m.images ?? '?'} images · deployed ${window.RT.time(m.deployed_at)}` : '';

    // The review queue and the detections by route, as status counts them.
    const rv = st.review;
    if (rv && Number.isFinite(rv.open)) $('open-tasks').textContent = String(rv.open);
    $('review-oldest').textContent = rv && rv.oldest_open_at
      ? `oldest waiting since ${window.RT.time(rv.oldest_open_at)} (${window.RT.ago(rv.oldest_open_at)})` : '';
    const dt = st.detections;
    $('detection-counts').textContent = dt
      ? `detections: ${dt.accepted ?? 0} accepted, ${dt.accepted_low ?? 0} low-confidence, ` +
        `${dt.review ?? 0} to review, ${(dt.queued ?? 0) + (dt.in_flight ?? 0)} waiting`
      : '';

    // Agreement of sampled answers with the model, when the daemon reports it.
    view.agreement = st.sampling_agreement ?? st.agreement ?? st.agreement_rate ?? (st.sampling && st.sampling.agreement) ?? null;
    const overall = agreementFor(null);
    const mine = m ? agreementFor(m.version) : null;
    let text = '';
    if (mine) text = `sampling agreement ${window.RT.rate(mine.rate)} (active model${mine.n ? `, ${mine.n} answers` : ''})`;
    else if (overall) text = `sampling agreement ${window.RT.rate(overall.rate)}`;
    $('agreement').textContent = text;

    const body = $('inflight-body');
    if (changed('inflight', { list: st.in_flight || [], total: st.in_flight_total })) {
      clear(body);
      const all = st.in_flight || [];
      for (const e of all.slice(0, 50)) {
        body.append(el('tr', {},
          el('td', {}, execButton(e.id)),
          el('td', { text: e.workflow }),
          el('td', {}, el('span', { class: stateClass(e.state), text: e.state })),
          el('td', { class: 'nowrap', text: `${window.RT.time(e.started_at)} (${window.RT.ago(e.started_at)})` })));
      }
      if (!all.length) emptyRow(body, 4, 'nothing running');
      // status lists every training but at most a few detections waiting for answers.
      const total = Math.max(all.length, st.in_flight_total ?? 0);
      if (total > Math.min(all.length, 50)) emptyRow(body, 4, `and ${total - Math.min(all.length, 50)} more`);
    }
  }

  // The agreement rate of sampled answers: for a version, or overall (version null). Reads a
  // number, {rate}, {VERSION: rate | {rate} | {answered, agreed}}, or
  // [{model_version|version, rate | answered, agreed}]. Returns {rate, n} or null.
  function agreementFor(version) {
    const ag = view.agreement;
    const one = (v) => {
      if (typeof v === 'number') return { rate: v, n: 0 };
      if (!v || typeof v !== 'object') return null;
      if (typeof v.rate === 'number') return { rate: v.rate, n: v.answered ?? v.sampled ?? 0 };
      if (typeof v.answered === 'number' && v.answered > 0 && typeof v.agreed === 'number')
        return { rate: v.agreed / v.answered, n: v.answered };
      return null;
    };
    if (ag === null || ag === undefined) return null;
    if (Array.isArray(ag)) {
      if (version === null) return null;
      return one(ag.find((x) => x && (x.model_version === version || x.version === version)));
    }
    if (version === null) return one(ag);
    return typeof ag === 'object' ? one(ag[version]) : null;
  }

  function renderModels(models) {
    if (!changed('models', { models, agreement: view.agreement })) return;
    const body = clear($('models-body'));
    for (const m of models || []) {
      const st = String(m.status || '');
      const badge = m.active ? 'badge ok' : /fail/i.test(st) ? 'badge bad' : 'badge';
      body.append(el('tr', { class: m.active ? 'active-model' : '' },
        el('td', { class: 'mono' }, m.version, m.active ? ' ' : '', m.active ? el('span', { class: 'badge ok', text: 'active' }) : ''),
        el('td', {}, el('span', { class: badge, text: st || '—' })),
        el('td', { class: 'num', text: window.RT.f1(m.f1) }),
        el('td', { class: 'num', text: m.images ?? '—' }),
        el('td', { class: 'num', text: agreementFor(m.version) ? window.RT.rate(agreementFor(m.version).rate) : '—' }),
        el('td', { class: 'nowrap', text: window.RT.time(m.created_at) }),
        el('td', { class: 'nowrap', text: window.RT.time(m.deployed_at) })));
    }
    if (!(models || []).length) emptyRow(body, 7, 'no model trained yet');
  }

  // ---- history and the execution detail ---------------------------------------------------

  function historyQuery() {
    const q = new URLSearchParams({ limit: '50' });
    if ($('f-workflow').value) q.set('workflow', $('f-workflow').value);
    if ($('f-state').value) q.set('state', $('f-state').value);
    return `/api/history?${q}`;
  }

  function renderHistory(list, query) {
    $('history-body').dataset.query = query;
    if (!view.workflows) {
      let grew = false;
      for (const e of list || []) {
        if (!view.seenStates.has(e.workflow)) view.seenStates.set(e.workflow, new Set());
        const seen = view.seenStates.get(e.workflow);
        if (!seen.has(e.state)) {
          seen.add(e.state);
          grew = true;
        }
      }
      fillSelect($('f-workflow'), [...view.seenStates.keys()].sort());
      if (grew) setStates($('f-state'), $('f-workflow').value);
    }
    if (!changed('history', list)) return;
    const body = clear($('history-body'));
    for (const e of list || []) {
      body.append(el('tr', { class: view.exec && view.exec.id === e.id ? 'selected' : '', dataset: { id: e.id } },
        el('td', {}, execButton(e.id)),
        el('td', { text: e.workflow }),
        el('td', {}, el('span', { class: stateClass(e.state), text: e.state }),
          e.checks > 1 ? el('span', { class: 'muted', text: ` ×${e.checks}` }) : ''),
        el('td', { class: 'nowrap', text: window.RT.time(e.started_at) }),
        el('td', { class: 'nowrap', text: window.RT.time(e.finished_at) }),
        el('td', {}, e.error ? el('span', { class: 'error-text', text: e.error }) : '')));
    }
    if (!(list || []).length) emptyRow(body, 6, 'no executions match');
  }

  async function openExecution(id, { scroll = true } = {}) {
    let e;
    try {
      ({ data: e } = await api('GET', `/api/history/${encodeURIComponent(id)}`));
    } catch (err) {
      say($('dash-error'), `Execution ${id}: ${err.message}`, 'error');
      return;
    }
    if (!view.workflows && Date.now() - (view.workflowsTried || 0) > 60000) await loadWorkflows();
    const first = !view.exec || view.exec.id !== e.id;
    if (!first && !changed('exec', e)) return;
    view.last.exec = JSON.stringify(e);
    view.exec = e;
    renderExecution(e);
    for (const tr of $('history-body').querySelectorAll('tr'))
      tr.classList.toggle('selected', tr.dataset.id === e.id);
    if (first) {
      history.replaceState(null, '', `#execution=${encodeURIComponent(e.id)}`);
      if (scroll) $('execution').scrollIntoView({ block: 'start' });
    }
  }

  function renderExecution(e) {
    $('execution').hidden = false;
    $('execution-h').textContent = `Execution ${e.id} (${e.workflow})`;
    $('exec-state').className = stateClass(e.state);
    $('exec-state').textContent = e.state;
    $('exec-times').textContent = `started ${window.RT.time(e.started_at)}` +
      (e.finished_at ? ` · finished ${window.RT.time(e.finished_at)}` : ' · still running');
    const steps = e.steps || [];
    const failedStep = steps.find((s) => s.error);
    const errText = failedStep ? `Failed at ${failedStep.state}: ${failedStep.error}`
      : e.error ? `Failed: ${e.error}` : '';
    say($('exec-error'), errText, 'error');

    let wf = (view.workflows || {})[e.workflow];
    const graph = clear($('graph'));
    if (!wf) {
      // No definition from the server: the path alone, as a chain.
      const path = steps.map((x) => x.state);
      const states = [...new Set(path)];
      const edges = [];
      for (let i = 1; i < path.length; i++) edges.push([path[i - 1], path[i]]);
      wf = { states, edges, initial: states[0] };
      graph.append(el('p', { class: 'muted', text:
        `The server did not give the "${e.workflow}" workflow's graph; showing the path taken only.` }));
    }
    graph.append(drawGraph(wf, e));

    const body = clear($('steps-body'));
    steps.forEach((s, i) => {
      body.append(el('tr', { dataset: { state: s.state } },
        el('td', { class: 'num', text: i + 1 }),
        el('td', {}, el('span', { class: stateClass(s.error ? 'FAILED' : s.state), text: s.state })),
        el('td', { class: 'nowrap', text: window.RT.time(s.at) }),
        el('td', {}, s.output ? el('pre', { class: 'output', text: JSON.stringify(s.output) }) : ''),
        el('td', {}, s.error ? el('span', { class: 'error-text', text: s.error }) : '')));
    });
    if (!steps.length) emptyRow(body, 5, 'no steps recorded');
  }

  // Lays the workflow out in rows and columns: the longest chain from the first state runs along
  // the top row; the workflow's failed state sits in the row below, and other side states
  // (NOT_MET, FAILED_F1, ...) below that, each under its predecessors.
  function layout(wf) {
    const states = [...(wf.states || [])];
    const edges = (wf.edges || []).filter((x) => Array.isArray(x) && x.length === 2);
    for (const [a, b] of edges) for (const s of [a, b]) if (!states.includes(s)) states.push(s);
    const out = new Map(states.map((s) => [s, []]));
    for (const [a, b] of edges) out.get(a).push(b);
    const start = states.includes(wf.initial) ? wf.initial
      : states.find((s) => !edges.some(([a, b]) => b === s && a !== s)) || states[0];

    // Depth-first from the start; edges to a state on the stack are back edges (loops).
    const back = new Set();
    const order = [];
    const mark = new Map();
    const visit = (s) => {
      mark.set(s, 1);
      for (const t of out.get(s)) {
        if (mark.get(t) === 1) back.add(`${s}>${t}`);
        else if (!mark.has(t)) visit(t);
      }
      mark.set(s, 2);
      order.unshift(s);
    };
    visit(start);
    for (const s of states) if (!mark.has(s)) visit(s);

    // Longest path layering on the forward edges, remembering the predecessor on it.
    const layer = new Map(states.map((s) => [s, 0]));
    const via = new Map();
    for (const s of order)
      for (const t of out.get(s))
        if (!back.has(`${s}>${t}`) && layer.get(s) + 1 > layer.get(t)) {
          layer.set(t, layer.get(s) + 1);
          via.set(t, s);
        }
    // The main line: back from the deepest state that is not the failed state.
    const candidates = states.filter((s) => s !== wf.failed);
    let end = candidates.reduce((a, b) => (layer.get(b) > layer.get(a) ? b : a), candidates[0]);
    const main = [];
    for (let s = end; s !== undefined; s = via.get(s)) main.unshift(s);

    const pos = new Map();
    const taken = new Set();
    main.forEach((s, i) => {
      pos.set(s, { col: i, row: 0 });
      taken.add(`${i},0`);
    });
    const preds = (s) => edges.filter(([a, b]) => b === s && a !== s).map(([a]) => a);
    // keepClear: columns where a vertical edge passes (a side state below the failed state).
    const place = (s, row, keepClear = () => false) => {
      const cols = preds(s).filter((p) => pos.has(p)).map((p) => pos.get(p).col);
      let col = cols.length ? Math.round(cols.reduce((x, y) => x + y, 0) / cols.length) : 0;
      while (taken.has(`${col},${row}`) || keepClear(col)) col++;
      pos.set(s, { col, row });
      taken.add(`${col},${row}`);
    };
    const rest = order.filter((s) => !pos.has(s));
    const hasFailed = wf.failed && rest.includes(wf.failed);
    for (const s of rest) if (s !== wf.failed) place(s, hasFailed ? 2 : 1);
    if (hasFailed) place(wf.failed, 1, (col) => taken.has(`${col},2`));
    return { states, edges, pos, back };
  }

  function drawGraph(wf, e) {
    const W = 118;
    const H = 38;
    const GX = 34;
    const GY = 46;
    const PAD = 24;
    const { states, edges, pos, back } = layout(wf);
    const steps = (e.steps || []).map((s) => s.state);
    if (!steps.length && e.state) steps.push(e.state);
    const visited = new Set(steps);
    const takenEdges = new Set();
    for (let i = 1; i < steps.length; i++) takenEdges.add(`${steps[i - 1]}>${steps[i]}`);
    const failed = new Set((e.steps || []).filter((s) => s.error).map((s) => s.state));
    const terminalFailed = (s) => s === wf.failed || /^FAILED/.test(s);
    for (const s of visited) if (terminalFailed(s)) failed.add(s);
    const current = steps[steps.length - 1];

    let cols = 0;
    let rows = 0;
    for (const { col, row } of pos.values()) {
      cols = Math.max(cols, col + 1);
      rows = Math.max(rows, row + 1);
    }
    const width = PAD * 2 + cols * W + (cols - 1) * GX;
    const height = PAD * 2 + rows * H + (rows - 1) * GY + 16;
    const xy = (s) => {
      const p = pos.get(s);
      return { x: PAD + p.col * (W + GX), y: PAD + 16 + p.row * (H + GY) };
    };

    const svg = el('svg:svg', { class: 'state-graph', viewBox: `0 0 ${width} ${height}`,
      width, height,
      role: 'img', 'aria-label': `State graph of ${e.workflow}; path taken: ${steps.join(' → ')}`,
      dataset: { execution: e.id } });
    const defs = el('svg:defs');
    for (const [id, cls] of [['arrow', 'arrow'], ['arrow-taken', 'arrow taken'], ['arrow-bad', 'arrow bad']]) {
      defs.append(el('svg:marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9,
        markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
        el('svg:path', { d: 'M0,0 L10,5 L0,10 z', class: cls })));
    }
    svg.append(defs);

    // Where the segment from the centre of a box towards (tx, ty) leaves the box.
    const exitPoint = (c, tx, ty) => {
      const dx = tx - c.x;
      const dy = ty - c.y;
      const sx = dx ? (W / 2) / Math.abs(dx) : Infinity;
      const sy = dy ? (H / 2) / Math.abs(dy) : Infinity;
      const k = Math.min(sx, sy);
      return { x: c.x + dx * k, y: c.y + dy * k };
    };
    const centre = (s) => {
      const p = xy(s);
      return { x: p.x + W / 2, y: p.y + H / 2 };
    };

    const allEdges = [...edges];
    for (const k of takenEdges) {
      const [a, b] = k.split('>');
      if (pos.has(a) && pos.has(b) && !edges.some(([x, y]) => x === a && y === b)) allEdges.push([a, b, 'extra']);
    }
    const edgeLayer = el('svg:g', { class: 'edges' });
    const sorted = allEdges.slice().sort((p, q) =>
      Number(takenEdges.has(`${p[0]}>${p[1]}`)) - Number(takenEdges.has(`${q[0]}>${q[1]}`)));
    for (const [a, b, extra] of sorted) {
      if (!pos.has(a) || !pos.has(b)) continue;
      const isTaken = takenEdges.has(`${a}>${b}`);
      const bad = isTaken && failed.has(b);
      const ca = centre(a);
      const cb = centre(b);
      let d;
      if (a === b) {
        const p = xy(a);
        d = `M${p.x + W * 0.35},${p.y} C${p.x + W * 0.35},${p.y - 26} ${p.x + W * 0.65},${p.y - 26} ${p.x + W * 0.65},${p.y}`;
      } else if (back.has(`${a}>${b}`) || (pos.get(a).row === pos.get(b).row && pos.get(b).col < pos.get(a).col)) {
        // A loop back along the row: an arc above the boxes.
        const pa = xy(a);
        const pb = xy(b);
        const lift = 22 + 6 * Math.abs(pos.get(a).col - pos.get(b).col);
        d = `M${pa.x + W / 2},${pa.y} C${pa.x + W / 2},${pa.y - lift} ${pb.x + W / 2},${pb.y - lift} ${pb.x + W / 2},${pb.y}`;
      } else {
        const s = exitPoint(ca, cb.x, cb.y);
        const t = exitPoint(cb, ca.x, ca.y);
        d = `M${s.x.toFixed(1)},${s.y.toFixed(1)} L${t.x.toFixed(1)},${t.y.toFixed(1)}`;
      }
      const cls = `edge${isTaken ? ' taken' : ''}${bad ? ' to-failed' : ''}${extra ? ' extra' : ''}`;
      const marker = bad ? 'arrow-bad' : isTaken ? 'arrow-taken' : 'arrow';
      edgeLayer.append(el('svg:path', { d, class: cls, 'marker-end': `url(#${marker})`,
        dataset: { from: a, to: b } }, el('svg:title', { text: `${a} → ${b}` })));
    }
    svg.append(edgeLayer);

    const errors = new Map((e.steps || []).filter((s) => s.error).map((s) => [s.state, s.error]));
    for (const s of states) {
      if (!pos.has(s)) continue;
      const p = xy(s);
      const cls = ['node'];
      if (visited.has(s)) cls.push('visited');
      if (s === current) cls.push('current');
      if (failed.has(s)) cls.push('failed');
      const label = s.length > 15 ? `${s.slice(0, 14)}…` : s;
      let title = s;
      if (visited.has(s)) title += ' (visited)';
      if (errors.has(s)) title += `\nerror: ${errors.get(s)}`;
      else if (failed.has(s) && e.error) title += `\nerror: ${e.error}`;
      svg.append(el('svg:g', { class: cls.join(' '), dataset: { state: s } },
        el('svg:title', { text: title }),
        el('svg:rect', { x: p.x, y: p.y, width: W, height: H, rx: 7, ry: 7 }),
        el('svg:text', { x: p.x + W / 2, y: p.y + H / 2, text: label })));
    }
    return svg;
  }

  // ---- detections and reviews -------------------------------------------------------------

  function detectionsQuery() {
    const q = new URLSearchParams({ limit: '100' });
    if ($('f-label').value) q.set('label', $('f-label').value);
    if ($('f-route').value) q.set('route', $('f-route').value);
    return `/api/detections?${q}`;
  }

  function renderDetections(list, query) {
    $('detections-body').dataset.query = query;
    for (const d of list || []) {
      if (d.label) view.labels.add(d.label);
      if (d.route) view.routes.add(d.route);
    }
    fillSelect($('f-label'), [...view.labels].sort());
    fillSelect($('f-route'), [...view.routes].sort());
    if (!changed('detections', list)) return;
    const body = clear($('detections-body'));
    for (const d of list || []) {
      body.append(el('tr', {},
        el('td', { class: 'num', text: d.seq ?? '' }),
        el('td', { class: 'nowrap', text: window.RT.time(d.detected_at) }),
        el('td', { class: 'mono', text: d.key }),
        el('td', { text: d.label ?? '—' }),
        el('td', { class: 'num', text: window.RT.percent(d.confidence) }),
        el('td', {}, el('span', { class: d.route === 'review' ? 'badge warn' : 'badge', text: d.route ?? '—' })),
        el('td', { class: 'mono hide-narrow', text: d.model_version ?? '—' }),
        el('td', {}, execButton(d.exec_id)),
        el('td', { class: 'mono', text: d.task ?? '—' })));
    }
    if (!(list || []).length) emptyRow(body, 9, 'no detections match');
  }

  function reviewsQuery() {
    const st = $('f-review-state').value;
    return st ? `/api/reviews?state=${encodeURIComponent(st)}` : '/api/reviews';
  }

  function renderReviews(list, openCount, query) {
    $('reviews-body').dataset.query = query;
    if (Number.isFinite(openCount)) $('open-tasks').textContent = String(openCount);
    if (!changed('reviews', list)) return;
    const body = clear($('reviews-body'));
    for (const t of (list || []).slice(0, 200)) {
      const answer = t.result ?? t.label ?? (Array.isArray(t.answers) ? t.answers.map((a) => a.label || a).join(', ') : null);
      body.append(el('tr', {},
        el('td', { class: 'mono', text: t.id }),
        el('td', {}, el('span', { class: t.source === 'sampling' ? 'badge badge-sampling' : 'badge', text: t.source })),
        el('td', { class: 'mono', text: t.key }),
        el('td', { text: t.detected_label ?? '—' }),
        el('td', { class: 'num', text: window.RT.percent(t.confidence) }),
        el('td', {}, el('span', { class: t.state === 'open' ? 'badge warn' : 'badge ok', text: t.state })),
        el('td', { class: 'num', text: typeof t.answers === 'number'
          ? `${t.answers}${typeof t.answers_needed === 'number' ? ` / ${t.answers_needed}` : ''}` : '—' }),
        el('td', { text: answer ?? '—' }),
        el('td', { text: t.created_at ? `${window.RT.time(t.created_at)} (${window.RT.ago(t.created_at)})` : '—' })));
    }
    if (!(list || []).length) emptyRow(body, 9, 'no review tasks');
    if ((list || []).length > 200) emptyRow(body, 9, `${list.length - 200} more not shown`);
  }

  // ---- labeling jobs -----------------------------------------------------------------------

  const LJ_DETAIL_MAX = 10; // jobs whose status (labels, workers) is loaded on each refresh

  async function loadLabelJobs() {
    const { data: list } = await api('GET', '/api/label-jobs');
    const jobs = Array.isArray(list) ? list : [];
    const details = await Promise.allSettled(jobs.slice(0, LJ_DETAIL_MAX).map((j) =>
      api('GET', `/api/label-jobs/${encodeURIComponent(j.name)}`)));
    return {
      data: jobs.map((j, i) => (details[i] && details[i].status === 'fulfilled' && details[i].value.data
        ? Object.assign({}, j, details[i].value.data) : j)),
    };
  }

  function jobCard(j) {
    const total = Number(j.total) || 0;
    const labeled = Number(j.labeled) || 0;
    const stClass = j.state === 'running' ? 'badge warn' : j.state === 'done' ? 'badge ok'
      : j.state === 'failed' ? 'badge bad' : 'badge';
    const labels = Object.entries(j.labels || {});
    const workers = Object.entries(j.workers || {}).sort((a, b) => (b[1].answers || 0) - (a[1].answers || 0));
    const extra = [];
    if (Number.isFinite(j.answers)) extra.push(`${j.answers} answers`);
    if (Number(j.machine_labeled) > 0 || j.auto_label) extra.push(`${j.machine_labeled ?? 0} labeled by the model`);
    if (Number.isFinite(j.moved)) extra.push(`${j.moved} moved`);
    const a = j.auto_label && typeof j.auto_label === 'object' ? j.auto_label : null;
    let auto = null;
    if (a) {
      const target = Number.isFinite(a.target_accuracy) ? ` (target ${window.RT.rate(a.target_accuracy)})` : '';
      auto = a.threshold === null || a.threshold === undefined
        ? `Automated labeling: no model confidence meets the target accuracy${target}.`
        : `Automated labeling: model confidence ≥ ${window.RT.percent(a.threshold)}, measured accuracy ` +
          `${window.RT.rate(a.measured_accuracy)} on ${a.validation_images ?? '?'} held-out images${target}.`;
    }
    const rates = Object.entries(j.error_rate || {});
    return el('article', { class: 'lj-job', dataset: { job: j.name } },
      el('header', { class: 'lj-head' },
        el('h3', { class: 'mono', text: j.name }),
        el('span', { class: 'badge', text: j.kind || 'label' }),
        el('span', { class: `${stClass} lj-state`, text: j.state || '?' })),
      el('div', { class: 'lj-progress' },
        el('meter', { min: 0, max: Math.max(total, 1), value: labeled,
          'aria-label': `${j.name}: ${labeled} of ${total} images labeled` }),
        el('span', { class: 'lj-count', text: `${labeled} / ${total} labeled` })),
      extra.length ? el('p', { class: 'muted lj-extra', text: extra.join(' · ') }) : null,
      labels.length
        ? el('p', { class: 'lj-labels' }, el('strong', { text: 'Labels: ' }),
          labels.flatMap(([l, n], i) => [i ? ', ' : '', el('span', { class: 'lj-label', text: `${l} ${n}` })]))
        : null,
      auto ? el('p', { class: 'lj-labels lj-auto', text: auto }) : null,
      rates.length
        ? el('p', { class: 'lj-labels' }, el('strong', { text: 'Estimated error rate: ' }),
          rates.map(([f, r], i) => `${i ? ', ' : ''}${f} ${window.RT.rate(r)}`).join(''))
        : null,
      workers.length
        ? el('table', { class: 'lj-workers' },
          el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Worker' }),
            el('th', { scope: 'col', class: 'num', text: 'Answers' }),
            el('th', { scope: 'col', class: 'num', text: 'Quality' }))),
          el('tbody', {}, workers.map(([w, v]) => el('tr', {},
            el('td', { text: w }),
            el('td', { class: 'num', text: v.answers ?? '—' }),
            el('td', { class: 'num lj-quality', text: window.RT.rate(v.quality) })))))
        : (j.labels ? el('p', { class: 'muted', text: 'no answers yet' }) : null),
      j.output_manifest ? el('p', { class: 'muted mono', text: `output: ${j.output_manifest}` }) : null);
  }

  function renderLabelJobs(jobs) {
    if (!changed('label-jobs', jobs)) return;
    const box = clear($('label-jobs-list'));
    for (const j of jobs) box.append(jobCard(j));
    if (!jobs.length) box.append(el('p', { class: 'muted', text: 'No labeling jobs yet.' }));
  }

  async function createJob(ev) {
    ev.preventDefault();
    const msg = $('lj-msg');
    const v = (id) => $(id).value.trim();
    const body = {
      name: v('lj-name'),
      prefix: v('lj-prefix'),
      labels: v('lj-labels').split(',').map((s) => s.trim()).filter(Boolean),
      instructions: v('lj-instructions'),
      workers_per_image: Number(v('lj-workers') || 3),
      fold: $('lj-fold').checked,
      verify: $('lj-verify').checked,
    };
    for (const [id, k] of [['lj-good', 'good_example'], ['lj-good-text', 'good_text'],
      ['lj-bad', 'bad_example'], ['lj-bad-text', 'bad_text']])
      if (v(id)) body[k] = v(id);
    $('lj-submit').disabled = true;
    msg.className = 'param-msg';
    msg.textContent = 'Creating…';
    try {
      const { data } = await api('POST', '/api/label-jobs', body);
      msg.className = 'param-msg notice ok';
      msg.textContent = `Created ${data && data.name ? data.name : body.name}.`;
      $('lj-form').reset();
      view.last['label-jobs'] = null;
      refresh();
    } catch (e) {
      if (e.status === 401) return;
      msg.className = 'param-msg error-text';
      msg.textContent = e.status === 409 ? `Not created: ${e.message}` : `Refused: ${e.message}`;
    } finally {
      $('lj-submit').disabled = false;
    }
  }

  // ---- parameters -------------------------------------------------------------------------

  // /api/params is {NAME: VALUE} (params list --json); {NAME: {value, source}} and
  // [{name, value, source}] are read too.
  function normalizeParams(data) {
    const out = [];
    if (Array.isArray(data)) {
      for (const p of data) if (p && p.name) out.push({ name: p.name, value: p.value, source: p.source });
    } else if (data && typeof data === 'object') {
      for (const [name, v] of Object.entries(data)) {
        if (v && typeof v === 'object' && !Array.isArray(v) && 'value' in v)
          out.push({ name, value: v.value, source: v.source });
        else out.push({ name, value: v });
      }
    }
    return out;
  }

  const asText = (v) => (v === null || v === undefined ? '' : String(v));

  // The value goes as the text typed (trimmed), so the server validates exactly what
  // `retraind params set NAME TEXT` would ("10.0" for a whole number is refused there too).
  const toValue = (text) => text.trim();

  function paramRow(p) {
    const isBool = typeof p.value === 'boolean';
    const id = `param-${p.name}`;
    const input = isBool
      ? el('select', { id, class: 'param-input', name: p.name },
        el('option', { value: 'true', text: 'true' }), el('option', { value: 'false', text: 'false' }))
      : el('input', { id, type: 'text', class: 'param-input', name: p.name, autocomplete: 'off',
        spellcheck: 'false', inputmode: typeof p.value === 'number' ? 'decimal' : undefined });
    const save = el('button', { type: 'submit', class: 'small', text: 'Save' });
    const revert = el('button', { type: 'button', class: 'small link', text: 'Undo', hidden: true });
    const msg = el('span', { class: 'param-msg', role: 'status', 'aria-live': 'polite' });
    const source = el('span', { class: 'muted param-source' });
    const form = el('form', { class: 'param-form', dataset: { param: p.name } }, input, save, revert, msg);
    const row = { name: p.name, input, save, revert, msg, source, original: asText(p.value), value: p.value, busy: false };
    const dirty = () => input.value !== row.original;
    const mark = () => {
      input.classList.toggle('dirty', dirty());
      revert.hidden = !dirty();
    };
    row.dirty = dirty;
    row.mark = mark;
    input.addEventListener('input', () => {
      mark();
      input.classList.remove('invalid');
      msg.textContent = '';
    });
    input.addEventListener('change', mark);
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        input.value = row.original;
        mark();
      }
    });
    revert.addEventListener('click', () => {
      input.value = row.original;
      mark();
      input.focus();
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveParam(row);
    });
    input.value = row.original;
    const tr = el('tr', { dataset: { param: p.name } },
      el('th', { scope: 'row' }, el('label', { for: id, class: 'mono', text: p.name }), el('br'), source),
      el('td', {}, form),
      el('td', { class: 'muted hide-narrow', text: PARAM_HELP[p.name] || '' }));
    row.tr = tr;
    return row;
  }

  async function saveParam(row) {
    if (row.busy) return;
    row.busy = true;
    row.save.disabled = true;
    row.msg.className = 'param-msg';
    row.msg.textContent = 'Saving…';
    try {
      const { data } = await api('PUT', `/api/params/${encodeURIComponent(row.name)}`,
        { value: toValue(row.input.value) });
      const v = data && 'value' in data ? data.value : toValue(row.input.value);
      row.value = v;
      row.original = asText(v);
      row.input.value = row.original;
      row.input.classList.remove('invalid');
      row.mark();
      row.msg.className = 'param-msg notice ok';
      row.msg.textContent = `Saved: ${row.original}`;
      view.last.params = null; // take the server's view on the next refresh
    } catch (e) {
      if (e.status === 401) return;
      row.input.classList.add('invalid');
      row.msg.className = 'param-msg error-text';
      row.msg.textContent = e.status === 400 ? `Refused: ${e.message}` : `Not saved: ${e.message}`;
    } finally {
      row.busy = false;
      row.save.disabled = false;
    }
  }

  function renderParams(data) {
    const list = normalizeParams(data);
    const body = $('params-body');
    if (view.params.size === 0) clear(body);
    for (const p of list) {
      let row = view.params.get(p.name);
      if (!row) {
        row = paramRow(p);
        view.params.set(p.name, row);
        body.append(row.tr);
      }
      row.source.textContent = p.source ? `(${p.source})` : '';
      // Never overwrite what the user is typing or has typed and not saved.
      const editing = document.activeElement === row.input || row.dirty() || row.busy;
      if (!editing && asText(p.value) !== row.original) {
        row.original = asText(p.value);
        row.value = p.value;
        row.input.value = row.original;
        row.mark();
      }
    }
    if (!list.length && !view.params.size) emptyRow(clear(body), 3, 'no parameters');
  }

  // ---- refresh ----------------------------------------------------------------------------

  async function loadWorkflows() {
    view.workflowsTried = Date.now();
    try {
      const { data } = await api('GET', '/api/workflows');
      view.workflows = data || {};
      fillSelect($('f-workflow'), Object.keys(view.workflows));
      setStates($('f-state'), $('f-workflow').value);
    } catch (e) {
      // Without the definitions the filters fill from the history, and a graph shows the path.
      view.workflows = null;
    }
  }

  async function refresh() {
    clearTimeout(view.timer);
    if (document.hidden) {
      view.timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    const gen = ++view.gen;
    const q = { history: historyQuery(), detections: detectionsQuery(), reviews: reviewsQuery() };
    const jobs = {
      status: api('GET', '/api/status'),
      models: api('GET', '/api/models'),
      history: api('GET', q.history),
      detections: api('GET', q.detections),
      reviews: api('GET', q.reviews),
      open: $('f-review-state').value === 'open' ? null : api('GET', '/api/reviews?state=open'),
      params: api('GET', '/api/params'),
      labelJobs: loadLabelJobs(),
    };
    const names = Object.keys(jobs);
    const results = await Promise.allSettled(names.map((n) => jobs[n]));
    if (gen !== view.gen) return; // a newer refresh (a filter changed) has started
    const got = {};
    const errors = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') got[names[i]] = r.value && r.value.data;
      else if (r.reason && r.reason.status !== 401) errors.push(`${names[i]}: ${r.reason.message}`);
    });
    const unavailable = (key, tbody, cols) => {
      const r = results[names.indexOf(key)];
      if (r.status === 'rejected' && r.reason && r.reason.status !== 401 && changed(key, { failed: r.reason.message })) {
        clear($(tbody));
        emptyRow($(tbody), cols, `could not load (${r.reason.status ? `HTTP ${r.reason.status}` : 'network'}): ${r.reason.message}`);
      }
    };
    unavailable('detections', 'detections-body', 9);
    unavailable('reviews', 'reviews-body', 9);
    unavailable('history', 'history-body', 6);
    unavailable('models', 'models-body', 7);
    const lj = results[names.indexOf('labelJobs')];
    if (lj.status === 'rejected' && lj.reason && lj.reason.status !== 401 &&
      changed('label-jobs', { failed: lj.reason.message }))
      clear($('label-jobs-list')).append(el('p', { class: 'muted',
        text: `could not load (${lj.reason.status ? `HTTP ${lj.reason.status}` : 'network'}): ${lj.reason.message}` }));
    try {
      if (got.status) renderStatus(got.status);
      if ('models' in got) renderModels(got.models);
      if ('history' in got) renderHistory(got.history, q.history);
      if ('detections' in got) renderDetections(got.detections, q.detections);
      if ('reviews' in got) {
        const open = 'open' in got && Array.isArray(got.open) ? got.open.length
          : $('f-review-state').value === 'open' && Array.isArray(got.reviews) ? got.reviews.length : NaN;
        renderReviews(got.reviews, open, q.reviews);
      }
      if ('params' in got) renderParams(got.params);
      if ('labelJobs' in got) renderLabelJobs(got.labelJobs || []);
      if (view.exec && !view.exec.finished_at) await openExecution(view.exec.id, { scroll: false });
    } catch (e) {
      errors.push(`showing the data: ${e.message}`);
    }
    say($('dash-error'), errors.length ? `Could not load: ${errors.join('; ')}` : '', 'error');
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.classList.add('loaded');
    view.timer = setTimeout(refresh, REFRESH_MS);
  }

  function onExecClick(ev) {
    const b = ev.target.closest('button[data-exec]');
    if (b) openExecution(b.dataset.exec);
  }

  async function init() {
    let sess;
    try {
      sess = await window.RT.session();
    } catch (e) {
      if (e.status !== 401) say($('dash-error'), `Could not load the session: ${e.message}`, 'error');
      return;
    }
    if (sess.role && sess.role !== 'admin') {
      location.assign('/review');
      return;
    }
    window.RT.header(sess, 'dashboard');
    document.body.addEventListener('click', onExecClick);
    $('f-workflow').addEventListener('change', () => {
      setStates($('f-state'), $('f-workflow').value);
      refresh();
    });
    for (const id of ['f-state', 'f-label', 'f-route', 'f-review-state']) $(id).addEventListener('change', refresh);
    $('lj-form').addEventListener('submit', createJob);
    // A verification moves the images it finds wrong: folding does not apply to it.
    $('lj-verify').addEventListener('change', () => {
      $('lj-fold').disabled = $('lj-verify').checked;
      if ($('lj-verify').checked) $('lj-fold').checked = false;
    });
    $('lj-form').addEventListener('reset', () => {
      $('lj-fold').disabled = false;
    });
    for (const id of ['history-filters', 'detection-filters', 'review-filters'])
      $(id).addEventListener('submit', (ev) => ev.preventDefault());
    $('exec-close').addEventListener('click', () => {
      view.exec = null;
      $('execution').hidden = true;
      history.replaceState(null, '', location.pathname);
      for (const tr of $('history-body').querySelectorAll('tr.selected')) tr.classList.remove('selected');
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    document.body.classList.add('ready');
    await loadWorkflows();
    const m = /^#execution=(.+)$/.exec(location.hash);
    if (m) openExecution(decodeURIComponent(m[1]));
    refresh();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
