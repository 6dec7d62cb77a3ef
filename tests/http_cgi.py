"""A small web server for tests/transports.rs: `git http-backend` as a CGI program behind
Python's http.server, on 127.0.0.1 only.

It binds a free port, prints it on the first line of stdout, and serves until it is killed or
its deadline (argv[1], seconds) passes. Like the Apache setup in git-http-backend(1), it asks
for Basic authentication (401) before a push (`git-receive-pack`) and passes the user name to
http-backend as REMOTE_USER; the password must be $PG_HTTP_PASSWORD. Fetches are anonymous.
The environment (GIT_PROJECT_ROOT, GIT_HTTP_EXPORT_ALL, HOME, ...) reaches http-backend as given.
"""

import base64
import http.server
import os
import subprocess
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def log_message(self, fmt, *args):
        sys.stderr.write("http: " + (fmt % args) + "\n")
        sys.stderr.flush()

    def user(self):
        """The user name of a valid Basic Authorization header, else None."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        if name and password == os.environ.get("PG_HTTP_PASSWORD"):
            return name
        return None

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def cgi(self):
        path, _, query = self.path.partition("?")
        pushing = path.endswith("/git-receive-pack") or "service=git-receive-pack" in query
        user = self.user()
        if pushing and user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="pushguard test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = self.body() if self.command == "POST" else b""
        if self.command == "POST" and pushing:
            # PG_HTTP_PUSH_DELAY: seconds between the ref advertisement (its nonce) and the
            # push, as on a slow network: http-backend runs a new receive-pack for each.
            time.sleep(float(os.environ.get("PG_HTTP_PUSH_DELAY") or 0))
        env = dict(os.environ)
        env.update(
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.0",
            REQUEST_METHOD=self.command,
            PATH_INFO=path,
            QUERY_STRING=query,
            REMOTE_ADDR=self.client_address[0],
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(data)),
        )
        for header, var in (
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ):
            if self.headers.get(header):
                env[var] = self.headers[header]
        if user is not None:
            env["REMOTE_USER"] = user
        out = subprocess.run(
            ["git", "http-backend"], input=data, env=env, stdout=subprocess.PIPE, check=False
        ).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        if not _:
            head, _, rest = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)


def main():
    deadline = float(sys.argv[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    timer = threading.Timer(deadline, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
