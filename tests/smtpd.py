"""An SMTP server on 127.0.0.1 for the SMTP notification test (aiosmtpd).

    python3 tests/smtpd.py OUT_DIR PORT [CERT KEY]

Accepts AUTH PLAIN/LOGIN as ops / s3cr3t only (without TLS: it is a local relay), and
writes each message it is given to OUT_DIR/N.json (sender, recipients, the message).
With CERT and KEY (PEM files) it offers STARTTLS with them.
Prints "ready" once it serves, then serves until stdin closes, for 120 s at most.
"""
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

out, port = sys.argv[1], int(sys.argv[2])
count = 0


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "authenticated": session.authenticated,
            "message": envelope.content.decode("utf-8", "replace"),
        }
        with open(os.path.join(out, f"{count}.json"), "w") as f:
            json.dump(record, f)
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"ops" and auth_data.password == b"s3cr3t"
    return AuthResult(success=ok)


tls = None
if len(sys.argv) > 4:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])
controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticate,
                        auth_require_tls=False, auth_required=True, tls_context=tls)
controller.start()
print("ready", flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait(120)
controller.stop()
