"""browserlib - what the browser integration tests share: a daemon with the HTTP server on a free
loopback port, portal users with real password hashes (retraind passwd) and an API token, and
the way to the headless-Chromium scripts of tests/browser/ (browser.py)."""
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request

from rtlib import BIN, Env, check, fail

sys.path.insert(0, os.path.join(os.environ.get("RETRAIND_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "browser"))
import browser  # noqa: E402  (tests/browser/browser.py)

USERS = {"alice": ("alice-pw-7Qx", "reviewer"), "root": ("root-pw-3Kd", "admin")}
TOKEN = "it-token-5b1f0c9e8d7a6b5c4d3e2f10"


def password_hash(password):
    """`retraind passwd` reads the password on stdin and prints the hash."""
    r = subprocess.run([BIN, "passwd"], input=password + "\n", capture_output=True, text=True,
                       timeout=60)
    if "not built yet" in r.stderr:
        print("SKIP: this build has no retraind passwd (the HTTP server is not built)", flush=True)
        sys.exit(77)
    lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    if r.returncode != 0 or not lines or not lines[-1].startswith("$argon2"):
        fail("retraind passwd exited %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    return lines[-1]


def http_config():
    users = "\n".join('    - { name: %s, password_hash: "%s", role: %s }'
                      % (name, password_hash(pw), role) for name, (pw, role) in USERS.items())
    return ("http:\n  listen: 127.0.0.1:0\n  tokens:\n    - { name: it, role: admin, "
            "token_sha256: %s }\nreview:\n  users:\n%s\n"
            % (hashlib.sha256(TOKEN.encode()).hexdigest(), users))


def make_env(**kw):
    browser.skip_unless_available()
    return Env(extra=http_config(), **kw)


def base_url(env, timeout=30):
    """The server's address from the log (port 0 picks a free one)."""
    if "event=http_not_built" in env.log():
        print("SKIP: this build has no HTTP server (event=http_not_built)", flush=True)
        sys.exit(77)
    m = env.wait_for(lambda: re.search(r"event=(?:http_)?listening address=\"?([0-9.]+:[0-9]+)",
                                       env.log()), timeout, "the HTTP server's address in the log")
    return "http://" + m.group(1)


def api(base, path, method="GET", body=None):
    """The JSON API with the config's bearer token; returns (status, parsed body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def run(script, base, user, **env):
    return browser.run(script, base, user, USERS[user][0], **env)


__all__ = ["make_env", "base_url", "api", "run", "check", "USERS"]
