#!/usr/bin/env python3
"""smtp_sink.py - an SMTP server for tests (Debian's python3-aiosmtpd) that saves what it gets.

Usage: smtp_sink.py DIR [--user NAME --password PW]
Listens on 127.0.0.1 on an ephemeral port, prints "PORT <n>" on stdout, and writes each message
it accepts as DIR/msg-<n>.eml (the raw DATA) plus DIR/msg-<n>.json ({"mail_from", "rcpt_tos",
"auth_user"}). With --user, AUTH PLAIN/LOGIN is offered over plain text (loopback test only) and
required. Exits when its stdin closes or on SIGTERM. Exits 77 when aiosmtpd is missing.
"""
import argparse
import asyncio
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    print("aiosmtpd is not installed (Debian package python3-aiosmtpd)", file=sys.stderr)
    sys.exit(77)


class Saver:
    def __init__(self, folder):
        self.folder = folder
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.folder, "msg-%d" % self.n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": getattr(session, "rt_user", None),
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()
    handler = Saver(args.dir)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == args.user and auth_data.password.decode() == args.password
        if ok:
            session.rt_user = auth_data.login.decode()
        return AuthResult(success=ok, handled=False)

    def factory():
        if args.user:
            return SMTP(handler, authenticator=authenticator, auth_required=True,
                        auth_require_tls=False)
        return SMTP(handler)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)

    def stdin_closed():
        loop.stop()

    async def watch_stdin():
        await loop.run_in_executor(None, lambda: [None for _ in iter(lambda: sys.stdin.buffer.read(4096), b"")])
        stdin_closed()

    loop.create_task(watch_stdin())
    try:
        loop.run_forever()
    finally:
        server.close()
    os._exit(0)


if __name__ == "__main__":
    main()
