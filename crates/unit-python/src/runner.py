"""The runner's Python side: protocol detection, wsgi.file_wrapper, and the ASGI server.

The router sends each request as a binary frame (see unit-http's app_request) followed
by its body; the answer goes back as HTTP/1.1. After a WebSocket handshake the
connection carries WebSocket frames, which this module reads and writes itself.
"""

import asyncio
import base64
import errno
import hashlib
import inspect
import os
import socket
import struct
import sys
import threading
import traceback

_WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
# Request body bytes buffered before reading from the router pauses.
_BODY_HIGH_WATER = 256 * 1024
# What one read from the router takes at most. The connection reads into a buffer of
# its own: asyncio's plain protocols get a new bytes object of 256 KiB per read, which
# malloc maps and unmaps each time.
_READ_SIZE = 64 * 1024
# Accepting fails for want of these; it pauses for _ACCEPT_PAUSE seconds then.
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_PAUSE = 1
# How long a new connection may take to bring its pipes.
_PIPES_TIMEOUT = 1


def _function_of(obj):
    """The Python function behind a callable, as Unit looks it up, or None."""
    if inspect.isfunction(obj):
        return obj
    if inspect.ismethod(obj):
        return obj.__func__
    call = getattr(obj, '__call__', None)
    if inspect.isfunction(call):
        return call
    if inspect.ismethod(call) and inspect.isfunction(call.__func__):
        return call.__func__
    return None


def inspect_callable(app):
    """(is it ASGI, is it a coroutine function): ASGI when a coroutine function or
    a one-argument callable (the ASGI 2.0 form)."""
    func = _function_of(app)
    if func is None:
        return (False, False)
    code = func.__code__
    coroutine = bool(code.co_flags & inspect.CO_COROUTINE)
    return (coroutine or code.co_argcount == 1, coroutine)


class FileWrapper:
    """wsgi.file_wrapper: a file-like object read in blocks."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


# Set on this module by the runner before the server starts: `RequestDecoder`, which
# makes each request frame's ASGI scope; `Answer`, an HTTP answer under way, which
# frames its head and body for the router; and `encode_head(status, fields, kind,
# length)`, the response head frame of an answer the runner makes itself.
RequestDecoder = None
Answer = None
encode_head = None


class ChunkedBody:
    """An incremental decoder of the chunked body the router sends."""

    def __init__(self):
        self.size = None
        self.done = False

    def feed(self, buffer, out):
        """Decodes what it can from buffer into out; returns the bytes consumed."""
        at = 0
        while not self.done:
            if self.size is None:
                end = buffer.find(b'\r\n', at)
                if end < 0:
                    break
                size = int(bytes(buffer[at:end]).split(b';')[0], 16)
                if size == 0:
                    # The last chunk: consumed with the empty line that ends it.
                    if len(buffer) - (end + 2) < 2:
                        break
                    at = end + 4
                    self.done = True
                    break
                self.size = size
                at = end + 2
            available = min(self.size, len(buffer) - at)
            if available:
                out.append(bytes(buffer[at:at + available]))
                at += available
                self.size -= available
            if self.size or len(buffer) - at < 2:
                # Wait for the rest of the chunk, or the line end after it.
                break
            at += 2
            self.size = None
        return at


class AsgiServer:
    """The application's ASGI side: one event loop per serving thread."""

    def __init__(self, targets, server_software):
        # targets: list of (name, callable, legacy, prefix)
        self.targets = [(app, legacy) for _, app, legacy, _ in targets]
        self.decoder = RequestDecoder([(name, prefix) for name, _, _, prefix in targets])
        self.server_software = server_software.encode()
        self.loops = {}
        # Each listener's descriptors held for a new connection's pipes.
        self.reserves = {}
        self.lifespans = []
        self.stopping = None

    def loop_for(self, index):
        loop = self.loops.get(index)
        if loop is None:
            loop = asyncio.new_event_loop()
            self.loops[index] = loop
        return loop

    def startup(self):
        """Runs every target's lifespan startup on the first thread's loop; False
        when one failed."""
        # The loops come from the event loop policy, which the application's module
        # may have set (to uvloop's, say), as in Unit.
        loop = self.loop_for(0)
        kind = type(loop)
        if not isinstance(loop, asyncio.SelectorEventLoop):
            log_info(f'ASGI event loops: {kind.__module__}.{kind.__qualname__}')
        asyncio.set_event_loop(loop)
        ok = True
        for app, legacy in self.targets:
            lifespan = Lifespan(app, legacy, loop)
            if not loop.run_until_complete(lifespan.startup()):
                ok = False
            self.lifespans.append(lifespan)
        asyncio.set_event_loop(None)
        return ok

    def shutdown(self, timeout=5):
        loop = self.loops.get(0)
        if loop is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(timeout)
        except Exception:
            traceback.print_exc()

    async def _shutdown(self):
        for lifespan in self.lifespans:
            await lifespan.shutdown()

    def serve(self, fd, index):
        loop = self.loop_for(index)
        asyncio.set_event_loop(loop)
        listener = socket.socket(fileno=os.dup(fd))
        listener.setblocking(False)
        loop.run_until_complete(self._serve(loop, listener))

    async def _serve(self, loop, listener):
        loop.add_reader(listener.fileno(), self._accept, loop, listener)
        await loop.create_future()

    def _accept(self, loop, listener):
        """Takes the connections waiting on the listener: each brings the runner's ends
        of its two pipes, which carry it from then on. A connection is accepted only
        while two descriptors are held for them, so they are never lost for want of
        room."""
        reserve = self.reserves.setdefault(listener.fileno(), [])
        while True:
            try:
                while len(reserve) < 2:
                    reserve.append(os.dup(listener.fileno()))
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                # As asyncio's own server does: accepting pauses for a second.
                log_error(f'accepting a connection failed: {error}; accepting pauses '
                          f'for {_ACCEPT_PAUSE} s')
                loop.remove_reader(listener.fileno())
                loop.call_later(_ACCEPT_PAUSE, loop.add_reader, listener.fileno(),
                                self._accept, loop, listener)
                return
            # Their places are the pipes'.
            while reserve:
                os.close(reserve.pop())
            with sock:
                try:
                    # The router sends the pipes as soon as it has connected.
                    sock.settimeout(_PIPES_TIMEOUT)
                    _, fds, _, _ = socket.recv_fds(sock, 1, 2)
                except OSError as error:
                    log_error(f'taking a connection from the router failed: {error}')
                    continue
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                log_error('a connection from the router came without its pipes')
                continue
            loop.create_task(self._connect(loop, *fds))

    async def _connect(self, loop, requests, answers):
        connection = Connection(self, loop)
        requests = open(requests, 'rb', buffering=0)
        answers = open(answers, 'wb', buffering=0)
        try:
            writer, _ = await loop.connect_write_pipe(lambda: AnswerPipe(connection), answers)
            connection.writer = writer
            await loop.connect_read_pipe(lambda: connection, requests)
        except Exception as error:
            log_error(f'taking a connection from the router failed: {error}')
            if connection.writer is not None:
                connection.writer.close()
            answers.close()
            requests.close()


class Lifespan:
    def __init__(self, app, legacy, loop):
        self.app = app
        self.legacy = legacy
        self.loop = loop
        self.messages = asyncio.Queue()
        self.startup_done = loop.create_future()
        self.shutdown_done = loop.create_future()
        self.supported = True
        self.task = None

    async def startup(self):
        scope = {'type': 'lifespan', 'asgi': {'version': '3.0', 'spec_version': '2.0'},
                 'state': {}}
        self.task = self.loop.create_task(self.run(scope))
        await self.messages.put({'type': 'lifespan.startup'})
        result = await self.startup_done
        if result is False:
            sys.stderr.flush()
            return False
        return True

    async def run(self, scope):
        try:
            if self.legacy:
                instance = self.app(scope)
                await instance(self.receive, self.send)
            else:
                await self.app(scope, self.receive, self.send)
        except BaseException:
            if not self.startup_done.done():
                # An application without lifespan support: logged, then ignored.
                traceback.print_exc()
                self.supported = False
                self.startup_done.set_result(True)
            elif not self.startup_done.result():
                traceback.print_exc()
            else:
                traceback.print_exc()
        finally:
            for future in (self.startup_done, self.shutdown_done):
                if not future.done():
                    future.set_result(True)

    async def receive(self):
        return await self.messages.get()

    async def send(self, message):
        kind = message.get('type')
        if kind == 'lifespan.startup.complete':
            self.startup_done.set_result(True)
        elif kind == 'lifespan.startup.failed':
            log_error('Application startup failed' +
                      (': ' + message['message'] if message.get('message') else ''))
            self.startup_done.set_result(False)
        elif kind == 'lifespan.shutdown.complete':
            self.shutdown_done.set_result(True)
        elif kind == 'lifespan.shutdown.failed':
            log_error('Application shutdown failed' +
                      (': ' + message['message'] if message.get('message') else ''))
            self.shutdown_done.set_result(True)

    async def shutdown(self):
        if not self.supported or self.task is None or self.task.done():
            return
        await self.messages.put({'type': 'lifespan.shutdown'})
        await self.shutdown_done


def log_info(text):
    errors = getattr(sys.modules[__name__], 'error_stream', None)
    if errors is not None:
        errors.info(text)


def log_error(text):
    errors = getattr(sys.modules[__name__], 'error_stream', None)
    if errors is not None:
        errors.write(text + '\n')
    else:
        sys.stderr.write(text + '\n')
        sys.stderr.flush()


# The body kind of a head encode_head makes: delimited by its length.
BODY_LENGTH = 1


class Pipes:
    """The transport of a connection from the router: requests come through one pipe,
    answers go through the other."""

    __slots__ = ('reader', 'writer', 'write')

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.write = writer.write

    def pause_reading(self):
        self.reader.pause_reading()

    def resume_reading(self):
        self.reader.resume_reading()

    def close(self):
        self.reader.close()
        self.writer.close()


class AnswerPipe(asyncio.Protocol):
    """The answers' side of a connection: its flow control, and its end."""

    def __init__(self, connection):
        self.connection = connection

    def pause_writing(self):
        self.connection.pause_writing()

    def resume_writing(self):
        self.connection.resume_writing()

    def connection_lost(self, exc):
        # The router stopped reading answers: the requests' side closes too.
        if self.connection.transport is not None:
            self.connection.transport.close()


class Connection(asyncio.BufferedProtocol):
    """One connection from the router: requests in turn, or one WebSocket."""

    def __init__(self, server, loop):
        self.server = server
        self.loop = loop
        self.transport = None
        # The answers' pipe transport.
        self.writer = None
        self.buffer = bytearray()
        self.incoming = memoryview(bytearray(_READ_SIZE))
        self.exchange = None
        self.websocket = None
        self.closed = False
        self.paused = False
        self.writable = None

    def connection_made(self, transport):
        self.transport = Pipes(transport, self.writer)

    def get_buffer(self, sizehint):
        return self.incoming

    def buffer_updated(self, nbytes):
        if self.websocket is not None:
            self.websocket.feed(bytes(self.incoming[:nbytes]))
            return
        self.buffer += self.incoming[:nbytes]
        self.advance()

    def data_received(self, data):
        # A loop whose pipes do not take a buffered protocol (asyncio's own).
        if self.websocket is not None:
            self.websocket.feed(data)
            return
        self.buffer += data
        self.advance()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.closed = True
        if self.writer is not None:
            self.writer.close()
        if self.exchange is not None:
            self.exchange.disconnected()
        if self.websocket is not None:
            self.websocket.disconnected()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self):
        if self.writable is None or self.writable.done():
            self.writable = self.loop.create_future()

    def resume_writing(self):
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    async def drain(self):
        if self.writable is not None and not self.writable.done():
            await self.writable

    def advance(self):
        """Feeds the current request's body, or starts the next request."""
        while True:
            if self.exchange is not None:
                consumed = self.exchange.feed(self.buffer)
                if consumed:
                    del self.buffer[:consumed]
                self.flow()
                return
            if not self.buffer:
                return
            try:
                decoded = self.server.decoder.decode(self.buffer)
            except Exception:
                traceback.print_exc()
                self.transport.close()
                return
            if decoded is None:
                return
            scope, target, kind, body_length, websocket, head, limits, length = decoded
            del self.buffer[:length]
            app, legacy = self.server.targets[target]
            exchange = Exchange(self, scope, app, legacy, kind, body_length, websocket,
                                head, limits)
            self.exchange = exchange
            self.loop.create_task(exchange.run())
            if exchange.body_done:
                # No body to feed; the router sends the next request after the answer.
                return

    def flow(self):
        pending = self.exchange.buffered if self.exchange is not None else 0
        if pending > _BODY_HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        elif pending <= _BODY_HIGH_WATER and self.paused:
            self.paused = False
            self.transport.resume_reading()

    def finished(self, exchange, keep):
        """The answer is complete; the next request may start."""
        if self.exchange is exchange:
            self.exchange = None
            if self.paused:
                self.flow()
            if not keep:
                self.transport.close()
                return
            if self.buffer and self.websocket is None:
                self.advance()


class Exchange:
    """One request and its answer."""

    __slots__ = ('connection', 'scope', 'app', 'legacy', 'is_websocket', 'is_head',
                 'websocket_limits', 'chunks', 'buffered', 'body_left', 'chunked',
                 'body_done', 'waiter', 'delivered_last', 'gone', 'answer', 'started',
                 'complete')

    def __init__(self, connection, scope, app, legacy, kind, body_length, websocket, head,
                 websocket_limits):
        self.connection = connection
        self.scope = scope
        self.app = app
        self.legacy = legacy
        self.is_websocket = websocket
        self.is_head = head
        self.websocket_limits = websocket_limits
        self.chunks = []
        self.buffered = 0
        self.body_left = body_length if kind == 1 else 0
        self.chunked = ChunkedBody() if kind == 2 else None
        self.body_done = kind == 0 or (kind == 1 and self.body_left == 0)
        self.waiter = None
        self.delivered_last = False
        self.gone = False
        # The Answer of http.response.start.
        self.answer = None
        # Whether a head went out, and whether the answer is complete.
        self.started = False
        self.complete = False

    # --- the request body ---

    def feed(self, buffer):
        if self.body_done:
            return 0
        consumed = 0
        if self.chunked is not None:
            before = len(self.chunks)
            try:
                consumed = self.chunked.feed(buffer, self.chunks)
            except ValueError:
                self.connection.transport.close()
                return len(buffer)
            for chunk in self.chunks[before:]:
                self.buffered += len(chunk)
            self.body_done = self.chunked.done
        else:
            take = min(self.body_left, len(buffer))
            if take:
                self.chunks.append(bytes(buffer[:take]))
                self.buffered += take
                self.body_left -= take
                consumed = take
            self.body_done = self.body_left == 0
        self.wake()
        return consumed

    def wake(self):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def disconnected(self):
        self.gone = True
        self.wake()

    async def receive(self):
        while True:
            if self.chunks or (self.body_done and not self.delivered_last):
                body = b''.join(self.chunks)
                self.chunks.clear()
                self.buffered = 0
                self.delivered_last = self.body_done
                self.connection.flow()
                return {'type': 'http.request', 'body': body, 'more_body': not self.body_done}
            if self.gone or self.complete:
                return {'type': 'http.disconnect'}
            self.waiter = self.connection.loop.create_future()
            await self.waiter
            self.waiter = None

    # --- the answer ---

    async def send(self, message):
        kind = message['type']
        if self.gone:
            return
        if kind == 'http.response.start':
            if self.answer is not None:
                raise RuntimeError('http.response.start sent twice')
            self.answer = Answer(int(message['status']), message.get('headers', ()),
                                 self.is_head)
        elif kind == 'http.response.body':
            if self.answer is None:
                raise RuntimeError('http.response.body before http.response.start')
            if self.write_body(message.get('body', b''), message.get('more_body', False)):
                await self.connection.drain()
        else:
            raise RuntimeError(f'unexpected message type {kind!r}')

    def write_body(self, body, more):
        """Writes body bytes (the head first); true when more is to come, for the
        caller to await the connection's drain."""
        data = self.answer.frame(body, more)
        self.started = True
        if data:
            self.connection.transport.write(data)
        if not more:
            self.complete = True
            self.end()
        return more

    def end(self):
        keep = not self.gone and self.answer is not None and self.answer.whole
        self.wake()
        self.connection.finished(self, keep)

    def fail(self):
        if not self.started and not self.gone:
            self.started = True
            self.complete = True
            # As Unit answers for an application that failed: 503.
            self.connection.transport.write(encode_head(503, [], BODY_LENGTH, 0))
            self.end()
        else:
            self.complete = True
            self.connection.finished(self, False)

    async def run(self):
        scope = self.scope
        if self.is_websocket:
            protocols = [value for name, value in scope['headers']
                         if name == b'sec-websocket-protocol' and value]
            if protocols:
                scope['subprotocols'] = tuple(
                    item.strip().decode() for value in protocols
                    for item in value.split(b',') if item.strip())
            handler = WebSocket(self, scope)
            receive, send = handler.receive, handler.send
        else:
            handler = None
            receive, send = self.receive, self.send
        try:
            if self.legacy:
                instance = self.app(scope)
                await instance(receive, send)
            else:
                await self.app(scope, receive, send)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            if handler is not None:
                handler.failed()
            else:
                self.fail()
            return
        if handler is not None:
            handler.returned()
        elif not self.complete:
            if self.answer is None:
                log_error('the application returned without an answer')
                self.fail()
            else:
                self.write_body(b'', False)


class WebSocketError(Exception):
    """A client frame Unit refuses: the close code and its reason."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebSocket:
    """A WebSocket over the connection once the handshake is answered (RFC 6455), with
    the checks, pongs, keep-alive pings and read timeout Unit's router applies."""

    def __init__(self, exchange, scope):
        self.exchange = exchange
        self.connection = exchange.connection
        self.scope = scope
        self.state = 'connecting'
        self.messages = []
        self.waiter = None
        self.buffer = bytearray()
        self.fragments = []
        self.fragment_opcode = None
        self.close_code = None
        self.connect_delivered = False
        self.max_frame_size, self.read_timeout, self.keepalive = \
            exchange.websocket_limits
        self.read_timer = None
        self.ping_timer = None

    # --- to the application ---

    async def receive(self):
        if not self.connect_delivered:
            self.connect_delivered = True
            return {'type': 'websocket.connect'}
        while not self.messages:
            if self.state == 'closed':
                return {'type': 'websocket.disconnect', 'code': self.close_code or 1005}
            self.waiter = self.connection.loop.create_future()
            await self.waiter
            self.waiter = None
        return self.messages.pop(0)

    def wake(self):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def send(self, message):
        kind = message['type']
        transport = self.connection.transport
        if kind == 'websocket.accept':
            if self.state != 'connecting':
                raise RuntimeError('websocket.accept in state ' + self.state)
            self.accept(message)
        elif kind == 'websocket.send':
            if self.state != 'open':
                if self.state in ('closed', 'closing'):
                    return
                raise RuntimeError('websocket.send before websocket.accept')
            text = message.get('text')
            data = message.get('bytes')
            if text is not None:
                self.write_frame(0x1, text.encode())
            elif data is not None:
                self.write_frame(0x2, bytes(data))
            await self.connection.drain()
        elif kind == 'websocket.close':
            code = message.get('code', 1000)
            if self.state == 'connecting':
                self.state = 'closed'
                transport.write(encode_head(403, [], BODY_LENGTH, 0))
                self.exchange.complete = True
                self.connection.finished(self.exchange, True)
                return
            if self.state == 'open':
                reason = (message.get('reason') or '').encode()
                self.write_frame(0x8, struct.pack('!H', code) + reason)
                self.state = 'closing'
        else:
            raise RuntimeError(f'unexpected message type {kind!r}')

    def accept(self, message):
        key = b''
        for name, value in self.scope['headers']:
            if name == b'sec-websocket-key':
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
        fields = [(b'Upgrade', b'websocket'), (b'Connection', b'Upgrade'),
                  (b'Sec-WebSocket-Accept', accept)]
        subprotocol = message.get('subprotocol')
        if subprotocol:
            # Spelled as Unit's Python module spells it.
            fields.append((b'sec-websocket-protocol', subprotocol.encode()))
        for name, value in message.get('headers', []):
            fields.append((bytes(name), bytes(value)))
        self.connection.transport.write(encode_head(101, fields))
        self.state = 'open'
        self.exchange.started = True
        self.connection.websocket = self
        self.heard_from_client()
        if self.connection.buffer:
            pending = bytes(self.connection.buffer)
            self.connection.buffer.clear()
            self.feed(pending)

    def write_frame(self, opcode, payload):
        length = len(payload)
        if length < 126:
            head = struct.pack('!BB', 0x80 | opcode, length)
        elif length < 65536:
            head = struct.pack('!BBH', 0x80 | opcode, 126, length)
        else:
            head = struct.pack('!BBQ', 0x80 | opcode, 127, length)
        self.connection.transport.write(head + payload)

    def failed(self):
        if self.state == 'connecting':
            self.state = 'closed'
            self.exchange.fail()
            return
        if self.state == 'open':
            self.write_frame(0x8, struct.pack('!H', 1011))
        self.finish()

    def returned(self):
        if self.state == 'connecting':
            self.state = 'closed'
            self.exchange.fail()
            return
        if self.state == 'open':
            self.write_frame(0x8, struct.pack('!H', 1000))
        self.finish()

    def finish(self):
        self.state = 'closed'
        self.stop_timers()
        self.connection.transport.close()

    # --- timers ---

    def heard_from_client(self):
        loop = self.connection.loop
        if self.read_timer is not None:
            self.read_timer.cancel()
        if self.read_timeout > 0:
            self.read_timer = loop.call_later(self.read_timeout, self.timed_out)
        if self.ping_timer is not None:
            self.ping_timer.cancel()
        if self.keepalive > 0:
            self.ping_timer = loop.call_later(self.keepalive, self.ping)

    def ping(self):
        if self.state == 'open':
            self.write_frame(0x9, b'')
            self.ping_timer = self.connection.loop.call_later(self.keepalive, self.ping)

    def timed_out(self):
        if self.state in ('open', 'closing'):
            self.refuse(WebSocketError(1001, 'Remote peer is going away'))

    def stop_timers(self):
        for timer in (self.read_timer, self.ping_timer):
            if timer is not None:
                timer.cancel()

    # --- from the client ---

    def disconnected(self):
        if self.state != 'closed':
            self.state = 'closed'
            if self.close_code is None:
                self.close_code = 1006
        self.stop_timers()
        self.wake()

    def refuse(self, error):
        """Closes with Unit's code and reason for a frame it does not take."""
        log_info(f'websocket error {error.code}: {error.reason}')
        if self.state == 'open':
            self.write_frame(0x8, struct.pack('!H', error.code) + error.reason.encode())
        self.close_code = error.code
        self.messages.append({'type': 'websocket.disconnect', 'code': error.code})
        self.finish()
        self.wake()

    def feed(self, data):
        self.buffer += data
        self.heard_from_client()
        try:
            while self.state == 'open':
                frame = self.next_frame()
                if frame is None:
                    return
                self.handle(*frame)
        except WebSocketError as error:
            self.refuse(error)

    def next_frame(self):
        """The next whole frame (first byte, payload), checked as Unit checks it as soon
        as its header is in; None while it is incomplete."""
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        length = second & 0x7f
        header = 2
        if length == 126:
            header = 4
        elif length == 127:
            header = 10
        masked = bool(second & 0x80)
        if masked:
            header += 4
        if len(buffer) < header:
            return None
        if length == 126:
            (length,) = struct.unpack_from('!H', buffer, 2)
        elif length == 127:
            (length,) = struct.unpack_from('!Q', buffer, 2)
        self.check_header(first, masked, length, header)
        if len(buffer) < header + length:
            return None
        payload = bytes(buffer[header:header + length])
        if masked:
            payload = _unmask(payload, bytes(buffer[header - 4:header]))
        del buffer[:header + length]
        return first, payload

    def check_header(self, first, masked, length, header):
        fin = bool(first & 0x80)
        opcode = first & 0x0f
        if not masked:
            raise WebSocketError(1002, 'Not masked client frame')
        if opcode & 0x8:
            if not fin:
                raise WebSocketError(1002, 'Fragmented control frame')
            if opcode not in (0x8, 0x9, 0xA):
                raise WebSocketError(1002, f'Unrecognized opcode {opcode}')
            if length > 125:
                raise WebSocketError(1002, f'Control frame too big: {length} bytes')
            if opcode == 0x8 and length == 1:
                raise WebSocketError(1002, 'Close frame payload length cannot be 1')
        elif self.fragment_opcode is not None:
            if opcode != 0x0:
                raise WebSocketError(
                    1002, f'Continuation expected, but {opcode} opcode received')
        elif opcode not in (0x1, 0x2):
            raise WebSocketError(1002, f'Unrecognized opcode {opcode}')
        if header > self.max_frame_size or length > self.max_frame_size - header:
            raise WebSocketError(1009, f'Message too big: {length} bytes')

    def handle(self, first, payload):
        fin = bool(first & 0x80)
        opcode = first & 0x0f
        if opcode == 0x9:
            self.write_frame(0xA, payload)
            return
        if opcode == 0xA:
            return
        if opcode == 0x8:
            self.client_closed(payload)
            return
        if opcode == 0x0:
            self.fragments.append(payload)
        else:
            self.fragment_opcode = opcode
            self.fragments = [payload]
        if not fin:
            return
        data = b''.join(self.fragments)
        opcode = self.fragment_opcode
        self.fragments = []
        self.fragment_opcode = None
        if opcode == 0x1:
            # As Unit: text is not validated, undecodable bytes are replaced.
            self.messages.append({'type': 'websocket.receive',
                                  'text': data.decode('utf-8', 'replace')})
        else:
            self.messages.append({'type': 'websocket.receive', 'bytes': data})
        self.wake()

    def client_closed(self, payload):
        code = 1005
        if len(payload) >= 2:
            (code,) = struct.unpack_from('!H', payload, 0)
            if not _valid_close_code(code):
                raise WebSocketError(1002, f'Close code {code} is not valid')
        self.write_frame(0x8, struct.pack('!H', 1000))
        self.close_code = code
        self.messages.append({'type': 'websocket.disconnect', 'code': code})
        self.finish()
        self.wake()


def _valid_close_code(code):
    """Unit's rule for a close code from a client."""
    return not (code < 1000 or code >= 5000 or 1003 < code < 1007 or 1014 < code < 3000)


def _unmask(payload, mask):
    length = len(payload)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], 'little')
    return (int.from_bytes(payload, 'little') ^ key).to_bytes(length, 'little')
