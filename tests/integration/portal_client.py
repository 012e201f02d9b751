"""portal_client - the review portal as a browser uses it, with Python's http.client only: the
sign-in form (GET /login sets the double-submit cookie rt_login_csrf, POST /login sends it back
with the form's csrf field), the session cookie rt_session, GET /api/session for the session's
CSRF token, then the portal's calls (GET /api/reviews/next, the image, POST the answer with
X-CSRF-Token). Redirects are never followed: the caller sees the 303 and its Location.

    p = Portal(base)                  # base = "http://127.0.0.1:PORT"
    p.sign_in("alice", "pw")          # -> (status, headers, body); raises on anything but 303
    task = p.next_task()              # dict or None (204)
    data, ctype = p.image(task)
    p.answer(task["id"], "circles")   # -> (status, parsed JSON)

Cookies are kept per name with their Path (a cookie with Path=/login goes only to /login...),
as a browser does; nothing else of cookie handling is needed here.
"""
import http.client
import json
import re
import urllib.parse


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> last value
        self.set_cookies = []
        self.body = body        # bytes

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body.decode()) if self.body else None

    def __repr__(self):
        return "<%d %r %s>" % (self.status, self.headers.get("location"), self.text[:200])


class Portal:
    def __init__(self, base, timeout=30):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.timeout = timeout
        self.cookies = {}  # name -> (value, path)
        self.csrf = None
        self.user = None

    # ---- raw requests ----
    def cookie_header(self, path):
        pairs = ["%s=%s" % (n, v) for n, (v, p) in sorted(self.cookies.items())
                 if path == p or path.startswith(p.rstrip("/") + "/") or p == "/"]
        return "; ".join(pairs)

    def request(self, method, path, body=None, headers=None, cookies=True):
        """One request on a new connection; returns a Response. path is sent as given (raw),
        so tests can send dot segments and escapes a client library would normalise."""
        h = dict(headers or {})
        if cookies:
            c = self.cookie_header(path.split("?")[0])
            if c:
                h["Cookie"] = c
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
            resp.set_cookies = r.msg.get_all("Set-Cookie") or []
        finally:
            conn.close()
        for sc in resp.set_cookies:
            self._store_cookie(sc)
        return resp

    def _store_cookie(self, header):
        parts = [p.strip() for p in header.split(";")]
        name, _, value = parts[0].partition("=")
        path = "/"
        expired = False
        for attr in parts[1:]:
            k, _, v = attr.partition("=")
            if k.lower() == "path" and v:
                path = v
            elif k.lower() == "max-age" and v.strip() in ("0", "-1"):
                expired = True
        if expired or value == "":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = (value, path)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, csrf=True, token=None):
        """A JSON POST as the portal's script makes it: X-CSRF-Token with the session's token
        (csrf=False: none; a string: that one)."""
        h = {"Content-Type": "application/json"}
        if csrf is True:
            h["X-CSRF-Token"] = self.csrf or ""
        elif isinstance(csrf, str):
            h["X-CSRF-Token"] = csrf
        return self.request("POST", path, json.dumps(obj), h)

    def put_json(self, path, obj):
        return self.request("PUT", path, json.dumps(obj), {"Content-Type": "application/json",
                                                          "X-CSRF-Token": self.csrf or ""})

    # ---- the sign-in form ----
    def login_form(self):
        """GET /login: returns the form's csrf field (and keeps the rt_login_csrf cookie)."""
        r = self.get("/login")
        if r.status != 200:
            raise AssertionError("GET /login: %r" % r)
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        if not m:
            raise AssertionError("no csrf field in the sign-in form:\n" + r.text[:2000])
        if "rt_login_csrf" not in self.cookies:
            raise AssertionError("GET /login set no rt_login_csrf cookie: %r" % r.set_cookies)
        return m.group(1)

    def post_login(self, user, password, csrf=None):
        """POST /login as the form does (fetching the form first unless csrf is given)."""
        if csrf is None:
            csrf = self.login_form()
        form = urllib.parse.urlencode({"user": user, "password": password, "csrf": csrf})
        return self.request("POST", "/login", form,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def sign_in(self, user, password):
        """The whole sign-in: the form, the POST (must be 303 with rt_session), then
        /api/session for the CSRF token. Returns the POST's response."""
        r = self.post_login(user, password)
        if r.status != 303 or "rt_session" not in self.cookies:
            raise AssertionError("sign-in of %s: %r (cookies %r)" % (user, r, r.set_cookies))
        s = self.get("/api/session")
        if s.status != 200:
            raise AssertionError("/api/session after sign-in: %r" % s)
        body = s.json()
        if body.get("user") != user or not body.get("csrf"):
            raise AssertionError("/api/session: %r" % body)
        self.csrf = body["csrf"]
        self.user = user
        return r

    # ---- the portal ----
    def next_task(self):
        """GET /api/reviews/next: the task (dict) or None for 204."""
        r = self.get("/api/reviews/next")
        if r.status == 204:
            return None
        if r.status != 200:
            raise AssertionError("/api/reviews/next: %r" % r)
        return r.json()

    def image(self, task):
        """GET the task's image by the URL the task gives: (bytes, content type)."""
        r = self.get(task["image"])
        if r.status != 200:
            raise AssertionError("GET %s: %r" % (task["image"], r))
        return r.body, r.headers.get("content-type")

    def answer(self, task_id, label, csrf=True):
        """POST /api/reviews/ID/answer {"label"}: (status, parsed body or text)."""
        r = self.post_json("/api/reviews/%s/answer" % task_id, {"label": label}, csrf=csrf)
        try:
            return r.status, r.json()
        except ValueError:
            return r.status, r.text


def answer_all(portal, choose, limit=1000):
    """Works like a reviewer: next task, its image, an answer, until 204. choose(task, image
    bytes) gives the label. Returns [(task, label, answer body)] in the order answered."""
    done = []
    for _ in range(limit):
        task = portal.next_task()
        if task is None:
            return done
        data, _ = portal.image(task)
        label = choose(task, data)
        status, body = portal.answer(task["id"], label)
        if status != 200:
            raise AssertionError("answer %s %r: %d %r" % (task["id"], label, status, body))
        done.append((task, label, body))
    raise AssertionError("more than %d tasks" % limit)
