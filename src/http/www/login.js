// login.js - the sign-in form. The server fills {{csrf}} (the login form's token, also set as
// the double-submit cookie rt_login_csrf) and {{message}} (why it sent the form back) when it
// serves login.html. This script only helps: it hides an empty message, shows one for
// ?error=1 / ?limited=1 or for the status the page came with (401 wrong password, 429
// rate-limited) when the server gave none, and fills the csrf field from the cookie when the
// page came without a token (a cached copy; the cookie is readable only if not HttpOnly).
'use strict';

(function () {
  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i >= 0 && part.slice(0, i).trim() === name)
        return decodeURIComponent(part.slice(i + 1).trim());
    }
    return '';
  }

  // The status the server answered this page with (401 and 429 carry the form again).
  function pageStatus() {
    try {
      const nav = performance.getEntriesByType('navigation')[0];
      return nav && typeof nav.responseStatus === 'number' ? nav.responseStatus : 0;
    } catch (e) {
      return 0;
    }
  }

  async function csrfToken() {
    let t = cookie('rt_login_csrf');
    if (t) return t;
    // No cookie yet (opened from a cached page, or the cookie expired): ask for the form again,
    // which sets it.
    try {
      await fetch('/login', { credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      /* shown below */
    }
    return cookie('rt_login_csrf');
  }

  function show(text) {
    const box = document.getElementById('login-error');
    box.textContent = text;
    box.hidden = !text;
  }

  // A placeholder the server did not fill ("{{csrf}}") counts as empty.
  const filled = (v) => !!v && !/^\{\{\w+\}\}$/.test(v.trim());

  async function init() {
    const q = new URLSearchParams(location.search);
    const status = pageStatus();
    const box = document.getElementById('login-error');
    if (filled(box.textContent)) show(box.textContent.trim());
    else if (q.has('limited') || status === 429)
      show('Too many failed sign-ins. Wait a minute, then try again.');
    else if (q.has('error') || status === 401)
      show('Wrong user name or password.');
    else if (q.has('expired'))
      show('Your session has ended. Please sign in again.');
    else show('');

    const form = document.getElementById('login-form');
    const field = document.getElementById('csrf');
    if (!filled(field.value)) field.value = await csrfToken();
    form.addEventListener('submit', (ev) => {
      if (!filled(field.value)) field.value = cookie('rt_login_csrf');
      if (!filled(field.value)) {
        ev.preventDefault();
        show('The sign-in form has no security token (are cookies blocked?). Reload the page.');
      }
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
