"""`tfmodels serve EXPORT_ROOT`: the exports under a folder over HTTP, in TensorFlow Serving's REST API.

    GET  /v1/models/NAME[/versions/V]                  the model's versions and their state
    GET  /v1/models/NAME[/versions/V]/metadata         its signatures: inputs and outputs, dtypes, shapes
    POST /v1/models/NAME[/versions/V]:predict          {"instances": [...]} (rows) or {"inputs": ...} (columns),
                                                       optional "signature_name" (default serving_default)
    POST /v1/models/NAME[/versions/V]:generate         a causal LM: {"prompt", "max_new_tokens", "temperature",
                                                       "seed", "stream"}; with "stream": true, server-sent
                                                       events, one a piece of text, then `event: done`

EXPORT_ROOT holds model folders (`savedmodels/<name>/<version>/`, as `tfmodels export` writes them) or is
one itself; a model's newest version answers unless a version is named, and new versions are found
when a request names them. The JSON shapes and the error form (`{"error": "..."}` with the HTTP status)
are TF Serving's, so a client of one is a client of the other (`:generate` is ours; TF Serving has no
streaming). Concurrent `:predict` requests to one signature are batched: those that arrive while a
batch runs (up to `max_batch` rows, their inputs of one shape) go through the graph as one call.
A bad request gets a 4xx with one line; nothing a client sends stops the server.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfmodels.errors import DataError, ExportError
from tfmodels.verbs.load import graph_error, signature_pieces

MAX_BODY_BYTES = 8 * 1024 * 1024  # a request larger than this is refused with 413
ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:predict|"
                   r":generate)?$")


class RequestError(Exception):
    """A request the server refuses: its HTTP status and one line for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- batching -----------------------------------------------------------------------------------------------

@dataclass
class _Pending:
    feeds: dict  # {input name: np.ndarray (n, ...)}
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    result: dict | None = None
    error: Exception | None = None

    @property
    def shapes(self) -> tuple:
        return tuple((k, v.shape[1:]) for k, v in sorted(self.feeds.items()))


class Batcher:
    """Runs one signature for many requests at once: a request waits while the batch before it runs, and
    those that gathered meanwhile (same input shapes, up to `max_batch` rows) run together next."""

    def __init__(self, fn, max_batch: int = 256):
        self.fn, self.max_batch = fn, max_batch
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.batch_sizes: list[int] = []  # requests a batch, for the benchmark
        threading.Thread(target=self._loop, daemon=True, name="tfmodels-batcher").start()

    def __call__(self, feeds: dict) -> dict:
        pending = _Pending(feeds, len(next(iter(feeds.values()))))
        self.queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _loop(self) -> None:
        while True:
            waiting = [self.queue.get()]
            while True:
                try:
                    waiting.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            while waiting:
                shapes = waiting[0].shapes
                group, rows, rest = [], 0, []
                for p in waiting:
                    if p.shapes == shapes and (not group or rows + p.rows <= self.max_batch):
                        group.append(p)
                        rows += p.rows
                    else:
                        rest.append(p)
                self._run(group)
                waiting = rest

    def _run(self, group: list[_Pending]) -> None:
        self.batch_sizes.append(len(group))
        try:
            feeds = {k: tf.constant(np.concatenate([p.feeds[k] for p in group])) for k in group[0].feeds}
            outputs = {k: v.numpy() for k, v in self.fn(**feeds).items()}
            start = 0
            for p in group:
                p.result = {k: v[start:start + p.rows] for k, v in outputs.items()}
                start += p.rows
        except Exception as e:  # noqa: BLE001 - every waiting request gets its answer, the server goes on
            if len(group) > 1:
                for p in group:  # one request's values broke the batch: each alone, so the others still run
                    self._run([p])
                return
            group[0].error = e
        for p in group:
            p.done.set()


# --- the models ---------------------------------------------------------------------------------------------

class Version:
    """One loaded SavedModel version (the loaded object is kept: its signatures need it alive)."""

    def __init__(self, path: Path, max_batch: int):
        import tensorflow_text  # noqa: F401  (a text model's tokenizer ops)

        self.path = path
        self.loaded = tf.saved_model.load(str(path))
        self.signatures = dict(self.loaded.signatures)
        self.batchers = {name: Batcher(fn, max_batch) for name, fn in self.signatures.items() if name != "generate"}

    def inputs(self, signature: str) -> dict:
        return self.signatures[signature].structured_input_signature[1]

    def metadata(self) -> dict:
        def describe(specs: dict) -> dict:
            return {n: {"dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape.as_list()]}
                    for n, s in specs.items()}

        return {name: {"inputs": describe(fn.structured_input_signature[1]),
                       "outputs": describe(fn.structured_outputs)} for name, fn in self.signatures.items()}


def _versions_in(folder: Path) -> list[int]:
    """The version folders (`<n>/saved_model.pb`) of a model's folder, sorted."""
    return sorted(int(v.name) for v in folder.iterdir() if v.name.isdigit() and (v / "saved_model.pb").is_file())


class ModelStore:
    """The models under a root folder, each version loaded on its first request."""

    def __init__(self, root: str | Path, max_batch: int = 256):
        self.root, self.max_batch = Path(root), max_batch
        self._versions: dict[tuple[str, int], Version] = {}
        self._lock = threading.Lock()
        if not self.models():
            raise ExportError(f"'{self.root}' holds no exported model (<name>/<version>/saved_model.pb); "
                              "give the folder `tfmodels export` writes to (savedmodels), or one model's folder")

    def models(self) -> dict[str, Path]:
        """{name: folder of its versions}: every model under the root (its start, and an unknown name's error)."""
        if self.root.is_dir() and _versions_in(self.root):
            return {self.root.resolve().name: self.root}
        return {p.name: p for p in sorted(self.root.iterdir()) if p.is_dir() and _versions_in(p)} \
            if self.root.is_dir() else {}

    def versions(self, name: str) -> list[int]:
        """The versions on disk of one model, read at each request (a new export is served at once); only
        that model's folder is listed."""
        single = _versions_in(self.root)
        if single:
            folder = self.root if name == self.root.resolve().name else None
        else:
            folder = self.root / name if not name.startswith(".") and (self.root / name).is_dir() else None
        versions = _versions_in(folder) if folder is not None else []
        if not versions:
            known = ", ".join(self.models()) or "none"
            raise RequestError(404, f"Servable not found for request: Latest({name}); the models here: {known}")
        return versions

    def get(self, name: str, version: str | None) -> tuple[int, Version]:
        versions = self.versions(name)
        if version is None:
            number = versions[-1]
        elif not version.isdigit() or int(version) not in versions:
            raise RequestError(404, f"Servable not found for request: Specific({name}, {version}); its versions: "
                                    f"{', '.join(map(str, versions))}")
        else:
            number = int(version)
        with self._lock:
            if (name, number) not in self._versions:
                try:
                    self._versions[(name, number)] = Version(self.models()[name] / str(number), self.max_batch)  # once
                except Exception as e:  # noqa: BLE001 - a damaged export is that model's error, not the server's
                    raise RequestError(500, f"model {name} version {number} cannot be loaded: "
                                            f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from None
            return number, self._versions[(name, number)]


# --- requests -----------------------------------------------------------------------------------------------

def _array(value, spec: tf.TensorSpec, where: str) -> np.ndarray:
    """A JSON value as the signature's input: dtype and shape checked (strings may be {"b64": ...})."""
    if spec.dtype == tf.string:
        def text(v):
            if isinstance(v, dict) and set(v) == {"b64"}:
                return base64.b64decode(v["b64"])
            if not isinstance(v, str):
                raise RequestError(400, f"{where}: expected strings, got {type(v).__name__}")
            return v.encode("utf-8")

        array = np.vectorize(text, otypes=[object])(np.asarray(value, dtype=object)) if value != [] else \
            np.zeros((0,), object)
    else:
        try:
            array = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
        except (TypeError, ValueError):
            raise RequestError(400, f"{where}: expected {spec.dtype.name} values of shape "
                                    f"{_shape(spec)}") from None
    expected = spec.shape.as_list()
    if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape)):
        raise RequestError(400, f"{where}: expected shape {_shape(spec)}, got {list(array.shape)}")
    if array.shape[0] == 0:
        raise RequestError(400, f"{where}: no instances")
    return array


def _shape(spec: tf.TensorSpec) -> list:
    return [-1 if d is None else d for d in spec.shape.as_list()]


def _json_ready(value):
    """An output (an array, a row of one, or a scalar) as JSON values; strings decoded from UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_json_ready(v) for v in value] if value.dtype == object else value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def predict(version: Version, body: dict) -> dict:
    """TF Serving's `:predict`: the row format (`instances` -> `predictions`) or the columnar one
    (`inputs` -> `outputs`)."""
    signature = body.get("signature_name", "serving_default")
    if signature not in version.batchers:
        raise RequestError(400, f"Serving signature name: \"{signature}\" not found in signature def; this model "
                                f"has {', '.join(sorted(version.batchers))}")
    specs = version.inputs(signature)
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, "the body must have one of \"instances\" (rows) or \"inputs\" (columns)")
    rows = "instances" in body
    data = body["instances"] if rows else body["inputs"]
    if rows:
        if not isinstance(data, list) or not data:
            raise RequestError(400, "\"instances\" must be a non-empty list")
        if len(specs) == 1 and not isinstance(data[0], dict):
            columns = {next(iter(specs)): data}
        else:
            if not all(isinstance(r, dict) and set(r) == set(specs) for r in data):
                raise RequestError(400, f"each instance must be an object with the inputs {', '.join(sorted(specs))}")
            columns = {k: [r[k] for r in data] for k in specs}
    else:
        columns = data if isinstance(data, dict) else ({next(iter(specs)): data} if len(specs) == 1 else None)
        if columns is None or set(columns) != set(specs):
            raise RequestError(400, f"\"inputs\" must name the inputs {', '.join(sorted(specs))}")
    feeds = {k: _array(v, specs[k], f"input '{k}'") for k, v in columns.items()}
    if len({len(v) for v in feeds.values()}) > 1:
        raise RequestError(400, "the inputs have different numbers of instances")
    try:
        outputs = version.batchers[signature](feeds)
    except tf.errors.InvalidArgumentError as e:
        raise RequestError(400, graph_error(e)) from None
    if rows:
        n = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": _json_ready(next(iter(outputs.values())))}
        return {"predictions": [{k: _json_ready(v[i]) for k, v in outputs.items()} for i in range(n)]}
    return {"outputs": {k: _json_ready(v) for k, v in outputs.items()} if len(outputs) > 1
            else _json_ready(next(iter(outputs.values())))}


def generation_options(version: Version, body: dict) -> dict:
    if "generate" not in version.signatures:
        raise RequestError(400, "this model has no generate signature: it is not a causal language model")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise RequestError(400, "\"prompt\" must be a non-empty string")
    options = {"max_new_tokens": body.get("max_new_tokens", 64), "temperature": body.get("temperature", 0.0),
               "seed": body.get("seed", 0)}
    if not isinstance(options["max_new_tokens"], int) or not 1 <= options["max_new_tokens"] <= 4096:
        raise RequestError(400, "\"max_new_tokens\" must be an integer from 1 to 4096")
    if not isinstance(options["temperature"], (int, float)) or options["temperature"] < 0:
        raise RequestError(400, "\"temperature\" must be a number, 0 (greedy) or above")
    if not isinstance(options["seed"], int):
        raise RequestError(400, "\"seed\" must be an integer")
    return {"prompt": prompt, **options}


def make_handler(store: ModelStore, max_body_bytes: int = MAX_BODY_BYTES, log=lambda _: None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tfmodels-serve"

        def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's name
            log(f"{self.address_string()} {format % args}")

        def _send_json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self):
            match = ROUTE.match(self.path.split("?")[0])
            if match is None:
                raise RequestError(404, f"no such endpoint: {self.path[:100]}; try /v1/models/NAME:predict")
            return match["name"], match["version"], match["rest"] or ""

        def _body(self) -> dict:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise RequestError(411, "the request needs a Content-Length header")
            if int(length) > max_body_bytes:
                raise RequestError(413, f"the body has {int(length):,} bytes, above the limit of {max_body_bytes:,} "
                                        "(tfmodels serve --max-body-bytes); send fewer instances a request")
            raw = self.rfile.read(int(length))
            if not raw.strip():
                raise RequestError(400, "the body is empty; send a JSON object")
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise RequestError(400, f"the body is not JSON: {e}") from None
            if not isinstance(body, dict):
                raise RequestError(400, "the body must be a JSON object")
            return body

        def _answer(self, work) -> None:
            try:
                work()
            except RequestError as e:
                self._refuse(e.status, str(e))
            except DataError as e:  # what the model's graph refuses (an empty prompt, an unknown character)
                self._refuse(400, str(e))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client left: nothing to answer
            except Exception as e:  # noqa: BLE001 - one line to the client, and the server serves on
                self._refuse(500, f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}")

        def _refuse(self, status: int, message: str) -> None:
            try:
                if status in (411, 413):
                    self.close_connection = True  # the unread body must not be taken for the next request
                self._send_json(status, {"error": message})
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_GET(self):  # noqa: N802 - BaseHTTPRequestHandler's name
            def work():
                name, version, rest = self._route()
                if rest.startswith(":"):
                    raise RequestError(405, f"{rest} takes POST")
                if rest == "/metadata":
                    number, loaded = store.get(name, version)
                    self._send_json(200, {"model_spec": {"name": name, "version": str(number)},
                                          "metadata": {"signature_def": loaded.metadata()}})
                    return
                versions = store.versions(name) if version is None else [store.get(name, version)[0]]
                self._send_json(200, {"model_version_status": [
                    {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                    for v in reversed(versions)]})

            self._answer(work)

        def do_POST(self):  # noqa: N802
            def work():
                name, version, rest = self._route()
                if rest not in (":predict", ":generate"):
                    raise RequestError(405, "POST goes to :predict or :generate")
                body = self._body()
                _, loaded = store.get(name, version)
                if rest == ":predict":
                    self._send_json(200, predict(loaded, body))
                    return
                options = generation_options(loaded, body)
                if not body.get("stream"):
                    self._send_json(200, {"text": "".join(generate_pieces(loaded, **options,
                                                                          chunk=options["max_new_tokens"]))})
                    return
                pieces = generate_pieces(loaded, **options)
                first = next(pieces, None)  # a bad prompt is a 400, before the stream starts
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for piece in _chain(first, pieces):
                    self.wfile.write(f"data: {json.dumps({'text': piece})}\n\n".encode("utf-8"))
                    self.wfile.flush()  # a client that left raises here: generation stops, the server goes on
                self.wfile.write(b"event: done\ndata: {}\n\n")

            self._answer(work)

    return Handler


def generate_pieces(version: Version, prompt: str, max_new_tokens: int, temperature: float, seed: int,
                    chunk: int = 8):
    """The continuation, `chunk` tokens a call of the `generate` signature (`load.signature_pieces`). Within
    the block the pieces join to the whole text; past it each call's context slides on its own."""
    return signature_pieces(version.signatures["generate"], prompt, max_new_tokens, temperature, seed, chunk)


def _chain(first, rest):
    if first is not None:
        yield first
    yield from rest


class Server(ThreadingHTTPServer):
    """A thread a connection; a listen backlog for many clients at once (the standard library's is 5,
    which drops the connections of a burst of 32 clients and makes them wait a second to retry)."""

    daemon_threads = True
    request_queue_size = 128


def make_server(root: str | Path, port: int = 8501, host: str = "127.0.0.1", max_batch: int = 256,
                max_body_bytes: int = MAX_BODY_BYTES, log=lambda _: None) -> ThreadingHTTPServer:
    """The server, bound but not yet serving (`serve_forever()`); port 0 picks a free one (`server_address`)."""
    store = ModelStore(root, max_batch)
    server = Server((host, port), make_handler(store, max_body_bytes, log))
    server.store = store
    return server


def serve(root: str | Path, port: int = 8501, host: str = "127.0.0.1", max_batch: int = 256,
          max_body_bytes: int = MAX_BODY_BYTES, log=print) -> None:
    """Serves until interrupted (Ctrl-C)."""
    try:
        server = make_server(root, port, host, max_batch, max_body_bytes, log=lambda _: None)
    except OSError as e:
        raise DataError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port") from None
    store = server.store
    for name in store.models():
        number, version = store.get(name, None)
        log(f"model {name} version {number}: {', '.join(sorted(version.signatures))}")
    log(f"serving on http://{host}:{server.server_address[1]}/v1/models/NAME:predict (Ctrl-C stops)")
    started = time.time()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log(f"stopped after {time.time() - started:.0f}s")
    finally:
        server.server_close()
