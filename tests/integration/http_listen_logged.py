"""The daemon starts its HTTP server when the config asks for one (issue #8, 3): with
http.listen: 127.0.0.1:0 it logs event=http_listening with the port it got, once, and check-config
accepts the config. Without http.listen (and no portal users or tokens) nothing listens and
nothing is said about HTTP."""
import re

from rtlib import Env, check

env = Env(poll="10m", extra="http: { listen: 127.0.0.1:0 }\n")
env.cli("check-config")
env.start()
line = re.search(r"^.*event=http_listening address=127\.0\.0\.1:(\d+).*$", env.log(), re.M)
check(line, "no event=http_listening at start:\n%s" % env.log()[-2000:])
check(int(line.group(1)) > 0, "the port is not the one picked: %r" % line.group(0))
env.wait_exec(lambda e: e["state"] == "NOT_MET", 30, "the start-up check")
env.stop()
check(env.log_count(r"event=http_listening") == 1, "said more than once")

plain = Env(poll="10m")
plain.start()
check(plain.status().get("http") is None, "status names a server that does not exist")
plain.stop()
check("http_listening" not in plain.log(), "http_listening without http.listen")
print("http listen logged: ok")
