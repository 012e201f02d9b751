"""browser - runs the headless-Chromium scripts of tests/browser/ from a Python integration test.

An integration test starts the real daemon (rtlib.Env with an http listener and portal users),
prepares its data, then:

    sys.path.insert(0, os.path.join(os.environ["RETRAIND_SRC"], "tests", "browser"))
    import browser
    browser.skip_unless_available()               # exit 77 (ctest skip) without chromium/npm pkgs
    out = browser.run("portal.mjs", base_url, "alice", "alice-pw",
                      RT_LABELS="circles", RT_EXPECT_END="empty")
    # out == {"answered": [{"task": ..., "label": ...}], "end": "empty", "screenshots": [...]}

run() returns the script's RESULT object; when the script fails it prints the script's output
and exits 1 (the test fails), as rtlib.fail does. Screenshots go to
$RETRAIND_BUILD/artifacts/browser/<test name>/ unless artifacts= says otherwise.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("RT_CHROMIUM", "/usr/bin/chromium")


def missing():
    """Why the browser scripts cannot run here (None when they can)."""
    if not shutil.which("node"):
        return "no node (Debian package nodejs)"
    if not os.path.exists(CHROMIUM):
        return "no browser at %s (Debian package chromium; scripts/setup.sh installs it)" % CHROMIUM
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return "playwright-core is not installed (run tests/browser/install.sh)"
    return None


def skip_unless_available():
    why = missing()
    if why:
        print("SKIP: " + why, flush=True)
        sys.exit(77)


def artifacts_dir(name=None):
    """$RETRAIND_BUILD/artifacts/browser[/name] (the build folder of the test run)."""
    build = os.environ.get("RETRAIND_BUILD") or os.path.join(os.getcwd(), "build")
    if name is None:
        name = os.path.splitext(os.path.basename(sys.argv[0] or "browser"))[0]
    return os.path.join(build, "artifacts", "browser", name)


def run(script, base_url, user, password, timeout=180, artifacts=None, check=True, **env):
    """Runs node tests/browser/<script> against base_url signed in as user; extra keyword
    arguments become environment variables (RT_LABELS=..., RT_PARAM=...). Returns the RESULT
    object, or with check=False a (returncode, result or None, output) tuple."""
    e = dict(os.environ)
    e.update({
        "RT_BASE_URL": base_url,
        "RT_USER": user,
        "RT_PASSWORD": password,
        "RT_ARTIFACTS": artifacts or artifacts_dir(),
        "RT_CHROMIUM": CHROMIUM,
    })
    e.update({k: str(v) for k, v in env.items()})
    try:
        r = subprocess.run(["node", os.path.join(HERE, script)], cwd=HERE, env=e,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as t:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        print("FAIL: %s did not finish within %d s\n%s%s"
              % (script, timeout, text(t.stdout), text(t.stderr)), flush=True)
        sys.exit(1)
    result = None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    output = r.stdout + r.stderr
    if not check:
        return r.returncode, result, output
    if r.returncode == 77:
        print("SKIP: " + output.strip(), flush=True)
        sys.exit(77)
    if r.returncode != 0 or result is None:
        print("FAIL: %s exited %d\n%s" % (script, r.returncode, output), flush=True)
        sys.exit(1)
    sys.stderr.write(r.stderr)
    return result
