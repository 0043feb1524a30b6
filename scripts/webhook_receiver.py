#!/usr/bin/env python3
"""A minimal webhook receiver for the quickstart: prints every POST body it gets, one per line,
and appends it to the file named by its second argument."""
import http.server
import sys

port, out = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(out, "a") as f:
            f.write(body + "\n")
        print(f"webhook received {self.path}: {body}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
