"""`retraind passwd` makes a hash that the daemon's portal accepts (issue #8, 4): the hash comes
from stdin (one line) or, at a terminal, from two prompts without echo; the password never
appears in the output. A daemon configured with that hash lets the user sign in through the real
sign-in form (CSRF cookie and field), gives a session cookie, and refuses a wrong password."""
import http.cookiejar
import os
import pty
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from rtlib import BIN, Env, check

PW = "correct horse battery"

r = subprocess.run([BIN, "passwd"], input=PW + "\n", capture_output=True, text=True, timeout=60)
check(r.returncode == 0, "passwd: %d %r" % (r.returncode, r.stderr))
hash_ = r.stdout.strip()
check(hash_.startswith("$argon2id$v=19$m=65536,t=3,p=1$"), "not an argon2id hash: %r" % hash_)
check(PW not in r.stdout + r.stderr, "the password was printed")
r = subprocess.run([BIN, "passwd"], input="", capture_output=True, text=True, timeout=60)
check(r.returncode == 2, "an empty stdin: %d" % r.returncode)

# At a terminal: asked twice, nothing echoed; two different answers print nothing.
def at_terminal(first, second):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "passwd"])
    out = b""
    for answer in (first, second):
        while b": " not in out.split(b"\n")[-1]:
            out += os.read(fd, 1024)
        os.write(fd, answer.encode() + b"\n")
        out += b"\n"
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

code, out = at_terminal(PW, PW)
check(code == 0 and "$argon2id$" in out, "at a terminal: %d %r" % (code, out))
check(PW not in out, "the password was echoed: %r" % out)
check(out.count("Password: ") == 1 and "Again: " in out, "not asked twice: %r" % out)
code, out = at_terminal(PW, PW + "x")
check(code == 2 and "$argon2id$" not in out, "a mismatch printed a hash: %d %r" % (code, out))

env = Env(poll="10m", extra=(
    "review:\n  users:\n    - { name: ada, role: admin, password_hash: \"%s\" }\n"
    "http: { listen: 127.0.0.1:0 }\n" % hash_))
env.start()
addr = re.search(r"event=http_listening address=(127\.0\.0\.1:\d+)", env.log()).group(1)
base = "http://" + addr


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def call(path, data=None):
    try:
        with opener.open(base + path, data=data, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def sign_in(password):
    code, _, page = call("/login")
    check(code == 200, "/login: %d" % code)
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    check(token, "no CSRF field in the form:\n" + page)
    form = urllib.parse.urlencode({"user": "ada", "password": password,
                                   "csrf": token.group(1)}).encode()
    return call("/login", form)


code, _, page = sign_in("wrong")
check(code == 401 and "<form" in page, "a wrong password: %d" % code)
check(not any(c.name == "rt_session" for c in jar), "a session after a wrong password")
code, headers, _ = sign_in(PW)
check(code == 303 and headers.get("Location") == "/", "sign-in: %d %r" % (code, headers))
check(any(c.name == "rt_session" for c in jar), "no session cookie")
code, _, body = call("/api/session")
check(code == 200 and '"user":"ada"' in body and '"role":"admin"' in body, "/api/session: %s" % body)
code, _, body = call("/")
check(code == 200 and "<html" in body.lower(), "the dashboard page: %d" % code)
env.stop()
check(PW not in env.log(), "the password reached the log")
print("http sign-in: ok")
