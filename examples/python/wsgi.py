"""A WSGI application for unitd's Python runner (standard library only)."""

import os


def application(environ, start_response):
    body = (
        f"Hello from WSGI in process {os.getpid()}: "
        f"{environ['REQUEST_METHOD']} {environ['REQUEST_URI']}\n"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
