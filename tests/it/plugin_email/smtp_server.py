"""A real SMTP server for the email plugin's tests: aiosmtpd on 127.0.0.1, port chosen by the
kernel, optionally with STARTTLS, implicit TLS, required login and scripted rejections.

It prints one JSON object per line on stdout: first {"event": "listening", "port": N}, then
{"event": "message", ...} per accepted message with the raw DATA bytes base64-encoded, and {"event": "closed", ...} per ended connection. It exits when its stdin closes, so it
never outlives the test process.
"""

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Handler:
    def __init__(self, args):
        self.args = args
        self.queued = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for rule in self.args.reject_rcpt:
            rejected, reply = rule.split("=", 1)
            if address == rejected:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.data_reply:
            return self.args.data_reply
        self.queued += 1
        emit({
            "event": "message",
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": base64.b64encode(envelope.original_content).decode("ascii"),
            "tls": session.ssl is not None or self.args.implicit_tls,
            "login": session.auth_data.decode("utf-8") if isinstance(session.auth_data, bytes) else session.auth_data,
            "peer_port": session.peer[1],
        })
        return "250 2.0.0 Ok: queued as Q%d" % self.queued


def authenticator(expected_user, expected_password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == expected_user and auth_data.password.decode() == expected_password
        # handled=False: aiosmtpd itself answers 535 to a refused login.
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)
    return check


def tls_context(args):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    return context


async def main(args):
    loop = asyncio.get_running_loop()
    handler = Handler(args)
    options = dict(hostname="smtp.test", loop=loop, timeout=args.idle_timeout)
    if args.cert and not args.implicit_tls:
        options.update(tls_context=tls_context(args), require_starttls=args.require_starttls)
    if args.auth:
        user, password = args.auth.split(":", 1)
        # With implicit TLS the whole connection is encrypted, so AUTH needs no STARTTLS.
        options.update(authenticator=authenticator(user, password), auth_required=True,
                       auth_require_tls=not args.implicit_tls)

    class Recording(SMTP):
        def connection_lost(self, error):
            peer = self.session.peer if self.session else None
            emit({"event": "closed", "peer_port": peer[1] if peer else None})
            super().connection_lost(error)

    server = await loop.create_server(lambda: Recording(handler, **options), host="127.0.0.1", port=0,
                                      ssl=tls_context(args) if args.implicit_tls else None)
    emit({"event": "listening", "port": server.sockets[0].getsockname()[1]})
    await asyncio.Event().wait()


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--auth", help="user:password required before MAIL")
    parser.add_argument("--reject-rcpt", action="append", default=[], help="address=reply, e.g. x@y=550 5.1.1 unknown")
    parser.add_argument("--idle-timeout", type=float, default=300, help="seconds before an idle client is dropped")
    parser.add_argument("--data-reply", help="reply to DATA instead of accepting, e.g. 451 4.3.0 try later")
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(main(parser.parse_args()))
