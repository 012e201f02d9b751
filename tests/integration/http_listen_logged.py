"""A configured http.listen with no HTTP server built yet is said at start (issue #7, 4):
check-config accepts it, and the daemon logs event=http_not_built naming the address, then runs
as usual. Without http.listen nothing is said about HTTP."""
import re

from rtlib import Env, check

env = Env(poll="10m", extra="http: { listen: 127.0.0.1:0 }\n")
env.cli("check-config")
env.start()
line = re.search(r"^.*event=http_not_built.*$", env.log(), re.M)
check(line, "no event=http_not_built at start:\n%s" % env.log()[-2000:])
check("127.0.0.1" in line.group(0), "the line does not name the address: %r" % line.group(0))
env.wait_exec(lambda e: e["state"] == "NOT_MET", 30, "the start-up check")
env.stop()
check(env.log_count(r"event=http_not_built") == 1, "said more than once")

plain = Env(poll="10m")
plain.start()
plain.stop()
check("http_not_built" not in plain.log(), "http_not_built without http.listen")
print("http listen logged: ok")
