// common.js - helpers shared by the retraind pages (portal and dashboard).
// Plain ES2020, no framework. The Content-Security-Policy is default-src 'self', so every
// element is built here with createElement/textContent: no innerHTML with data, no inline style.
'use strict';

(function () {
  const RT = {};

  // el('div', {class: 'x', text: 'hi', onclick: fn, dataset: {a: 1}}, child, ...)
  RT.el = function el(tag, attrs, ...children) {
    const svg = tag.startsWith('svg:');
    const node = svg
      ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'class') node.setAttribute('class', v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, '');
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  };

  RT.clear = function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  RT.cookie = function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i < 0) continue;
      if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
    return '';
  };

  // An error from the API: status is the HTTP status (0 for a network failure).
  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }
  RT.ApiError = ApiError;

  let csrfToken = '';
  RT.setCsrf = (t) => {
    csrfToken = t || '';
  };

  // The reason a server gives in a JSON error body ({"error": "..."}), or the status line.
  function reason(status, body, text) {
    if (body && typeof body === 'object' && typeof body.error === 'string') return body.error;
    if (text && text.length < 300 && !/^\s*</.test(text)) return text.trim();
    return `HTTP ${status}`;
  }

  // api('GET', '/api/status') -> {status, data}. Non-2xx throws ApiError; 401 sends the
  // browser to the sign-in page unless opts.noRedirect.
  RT.api = async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'Network error: the server did not answer', null);
    }
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (res.status === 401 && !opts.noRedirect) {
      RT.toLogin();
      throw new ApiError(401, 'Signed out', data);
    }
    if (!res.ok) throw new ApiError(res.status, reason(res.status, data, text), data);
    return { status: res.status, data };
  };

  RT.toLogin = function toLogin() {
    location.assign('/login?expired=1');
  };

  // The session: {user, role, csrf}. Keeps the CSRF token for later writes.
  RT.session = async function session() {
    const { data } = await RT.api('GET', '/api/session');
    RT.setCsrf(data && data.csrf);
    return data || {};
  };

  // POST /logout with the CSRF token (header and form field), then go to the sign-in page.
  RT.signOut = async function signOut() {
    try {
      await fetch('/logout', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'X-CSRF-Token': csrfToken,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: 'csrf=' + encodeURIComponent(csrfToken),
        redirect: 'manual',
      });
    } catch (e) {
      /* the sign-in page is where we go anyway */
    }
    location.assign('/login');
  };

  // Fills the page header: who is signed in, a link to the other page for admins, sign-out.
  RT.header = function header(sess, here) {
    const who = document.getElementById('who');
    if (who) who.textContent = `${sess.user || '?'} (${sess.role || '?'})`;
    const other = document.getElementById('other-page');
    if (other) other.hidden = !(sess.role === 'admin' || here === 'dashboard');
    const out = document.getElementById('sign-out');
    if (out) out.addEventListener('click', () => RT.signOut());
  };

  // RFC 3339 -> "2026-12-03 15:04:05" in UTC (what the server and logs use).
  RT.time = function time(t) {
    if (!t) return '—';
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return String(t);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace('Z', ' UTC');
  };

  RT.ago = function ago(t) {
    if (!t) return '';
    const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
    if (!Number.isFinite(s)) return '';
    if (s < 0) return 'in ' + RT.duration(-s);
    return RT.duration(s) + ' ago';
  };

  RT.duration = function duration(s) {
    if (s < 90) return `${s}s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} d`;
  };

  // A confidence as a percentage. The engine reports 0..100 like Rekognition (0.5 is half a
  // percent, not a half). Rounded down to a tenth, so a detection just under a threshold of 100
  // never reads "100%" (the notifications round the same way).
  RT.percent = function percent(c) {
    if (c === null || c === undefined || c === '') return '—';
    const n = Number(c);
    if (!Number.isFinite(n)) return String(c);
    const p = Math.floor(Math.min(Math.max(n, 0), 100) * 10) / 10;
    return `${p.toFixed(p === Math.round(p) ? 0 : 1)}%`;
  };

  // A rate 0..1 (sampling agreement) as a percentage.
  RT.rate = function rate(r) {
    if (r === null || r === undefined || r === '') return '—';
    const n = Number(r);
    return Number.isFinite(n) ? RT.percent(n * 100) : String(r);
  };

  RT.f1 = function f1(v) {
    if (v === null || v === undefined) return '—';
    const n = Number(v);
    return Number.isFinite(n) ? n.toFixed(3) : String(v);
  };

  // Shows a message in a live region (role=status or role=alert set in the HTML).
  RT.say = function say(node, text, kind) {
    if (!node) return;
    node.textContent = text || '';
    node.hidden = !text;
    node.classList.toggle('error', kind === 'error');
    node.classList.toggle('ok', kind === 'ok');
  };

  window.RT = RT;
})();
