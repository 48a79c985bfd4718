"""A tiny HTTP application for unitd, Python's standard library only.

It serves on the listening socket it inherits as descriptor 3 (LISTEN_FDS=1, the
systemd convention unitd follows) with http.server, one connection at a time, the way
a simple single-threaded server does. Paths: "/" greets with the pid, "/sleep/<ms>"
answers after a while, "/env/<NAME>" shows an environment variable; a WebSocket
handshake on any path starts an echo of every text and binary message.
"""

import base64
import hashlib
import http.server
import os
import socket
import struct
import sys
import time

LISTEN_FD = 3
# RFC 6455, section 1.3: what the key is joined with to prove the handshake was read.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.echo_websocket()
            return
        if self.path.startswith("/sleep/"):
            time.sleep(int(self.path[len("/sleep/"):]) / 1000)
            text = f"slept in {os.getpid()}"
        elif self.path.startswith("/env/"):
            text = os.environ.get(self.path[len("/env/"):], "(unset)")
        else:
            text = f"hello from python {os.getpid()}"
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def echo_websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            frame = read_frame(self.rfile)
            if frame is None:
                return
            opcode, payload = frame
            if opcode == 0x9:  # ping
                opcode = 0xA
            self.wfile.write(encode_frame(opcode, payload))
            self.wfile.flush()
            if opcode == 0x8:  # close, answered and done
                return

    def log_message(self, format, *args):
        pass


def read_exactly(stream, length):
    data = stream.read(length)
    return data if data is not None and len(data) == length else None


def read_frame(stream):
    """The opcode and unmasked payload of the next frame (a client's are masked)."""
    head = read_exactly(stream, 2)
    if head is None:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", read_exactly(stream, 2) or b"\0\0")[0]
    elif length == 127:
        length = struct.unpack("!Q", read_exactly(stream, 8) or bytes(8))[0]
    mask = read_exactly(stream, 4) if head[1] & 0x80 else bytes(4)
    payload = read_exactly(stream, length) if length else b""
    if mask is None or payload is None:
        return None
    return opcode, bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


def encode_frame(opcode, payload):
    """A final, unmasked frame, as a server sends."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return head + payload


class InheritedServer(http.server.HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self):
        pass

    def server_activate(self):
        pass


def main():
    if os.environ.get("LISTEN_FDS") != "1":
        sys.exit("hello.py: start me from unitd: no LISTEN_FDS=1 socket")
    listening = socket.socket(fileno=LISTEN_FD)
    server = InheritedServer(listening.getsockname(), Handler, bind_and_activate=False)
    server.socket = listening
    server.serve_forever()


if __name__ == "__main__":
    main()
