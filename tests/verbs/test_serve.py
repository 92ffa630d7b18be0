"""`tfmodels serve`: TF Serving's REST API over our exports, batching, streaming, and bad requests."""

import http.client
import json
import socket
import threading
import time

import numpy as np
import pytest
from conftest import CONFIGS
from helpers import tiny_gpt

import tfmodels
from tfmodels.config import apply_overrides, demo_config, load_config
from tfmodels.errors import ExportError
from tfmodels.verbs.serve import Batcher, make_server
from tfmodels.verbs.train import train

MLP = ["model.mlp.hidden_units=[32]", "logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=2"]
ENCODER = ["model.encoder.num_layers=1", "model.encoder.width=32", "model.encoder.num_heads=2",
           "model.encoder.ffn_dim=64", "data.tokenizer.vocabulary_size=300", "data.tokenizer.sequence_length=32",
           "data.train=synthetic?size=600", "logging.verbose=0", "logging.histogram_freq=0", "trainer.epochs=1",
           "trainer.warmup_steps=5"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """savedmodels/digits/{1,2} and savedmodels/reviews/1, served on a free port of this machine."""
    root = tmp_path_factory.mktemp("serve")
    train(apply_overrides(demo_config(), MLP), root / "digits")
    train(apply_overrides(load_config(CONFIGS / "encoder_synthetic.yaml"), ENCODER), root / "reviews")
    tfmodels.export_run(root / "digits", savedmodels_dir=root / "savedmodels")
    tfmodels.export_run(root / "digits", savedmodels_dir=root / "savedmodels")  # version 2
    tfmodels.export_run(root / "reviews", savedmodels_dir=root / "savedmodels")
    server = make_server(root / "savedmodels", port=0, max_body_bytes=200_000)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, server.server_address[1]
    server.shutdown()


def request(port, method, path, body=None, raw=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload) if payload else None


def digits(n):
    from sklearn.datasets import load_digits

    return (load_digits().images[:n] / 16.0).astype(np.float32)


def test_model_status_and_metadata_as_tf_serving_gives_them(exports):
    _, port = exports
    status, body = request(port, "GET", "/v1/models/digits")
    assert status == 200 and [v["version"] for v in body["model_version_status"]] == ["2", "1"]
    assert body["model_version_status"][0] == {"version": "2", "state": "AVAILABLE",
                                               "status": {"error_code": "OK", "error_message": ""}}
    status, body = request(port, "GET", "/v1/models/digits/versions/1/metadata")
    signature = body["metadata"]["signature_def"]["serving_default"]
    assert status == 200 and body["model_spec"] == {"name": "digits", "version": "1"}
    assert signature["inputs"] == {"pixels": {"dtype": "float32", "shape": [-1, 8, 8]}}
    assert set(signature["outputs"]) == {"probabilities", "class_id", "class_name"}


def test_rows_and_columns_predict_what_the_export_predicts(exports):
    root, port = exports
    pixels = digits(5)
    expected = tfmodels.load(root / "savedmodels" / "digits" / "2").predict(pixels)
    status, body = request(port, "POST", "/v1/models/digits:predict", {"instances": pixels.tolist()})
    assert status == 200 and len(body["predictions"]) == 5, body
    assert [p["class_id"] for p in body["predictions"]] == expected.class_ids.tolist()
    np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]], expected.all_probabilities,
                               atol=1e-6)
    status, body = request(port, "POST", "/v1/models/digits/versions/1:predict",
                           {"inputs": {"pixels": pixels.tolist()}, "signature_name": "serving_default"})
    assert status == 200 and body["outputs"]["class_name"] == [str(i) for i in body["outputs"]["class_id"]]
    status, body = request(port, "POST", "/v1/models/reviews:predict",
                           {"instances": ["the film is not bad at all", "a dull plot"]})
    texts = tfmodels.load(root / "savedmodels" / "reviews" / "1").predict(["the film is not bad at all", "a dull plot"])
    assert status == 200 and [p["class_name"] for p in body["predictions"]] == texts.class_names


def test_concurrent_clients_get_their_own_answers(exports):
    _, port = exports
    pixels = digits(32)
    alone = [request(port, "POST", "/v1/models/digits:predict", {"instances": [p.tolist()]})[1]["predictions"][0]
             for p in pixels]
    answers = [None] * len(pixels)

    def client(i):
        answers[i] = request(port, "POST", "/v1/models/digits:predict", {"instances": [pixels[i].tolist()]})[1]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(pixels))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [a["predictions"][0]["class_id"] for a in answers] == [a["class_id"] for a in alone]


def test_requests_that_wait_run_as_one_batch_and_a_bad_one_fails_alone():
    release, calls = threading.Event(), []

    def fn(x):
        calls.append(int(x.shape[0]))
        release.wait(10)
        if np.any(x.numpy() < 0):
            raise ValueError("negative")
        return {"y": x * 2}

    batcher = Batcher(fn, max_batch=8)
    results = {}

    def submit(i, value):
        try:
            results[i] = batcher({"x": np.full((1, 2), value, np.float32)})["y"].tolist()
        except ValueError as e:
            results[i] = str(e)

    first = threading.Thread(target=submit, args=(0, 1.0))
    first.start()
    while not calls:
        time.sleep(0.01)  # the first batch is running: the next ones wait together
    others = [threading.Thread(target=submit, args=(i, -1.0 if i == 3 else float(i))) for i in range(1, 6)]
    [t.start() for t in others]
    while batcher.queue.qsize() < 5:
        time.sleep(0.01)
    release.set()
    [t.join() for t in [first, *others]]
    assert calls[:2] == [1, 5]  # one alone, then the five that waited as one batch ...
    assert calls[2:] == [1] * 5  # ... which failed on the bad one: each then ran alone
    assert results[3] == "negative" and results[4] == [[8.0, 8.0]] and results[0] == [[2.0, 2.0]]


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/models/digits:predict", {"instances": [[0.0] * 5]}, 400,
     "input 'pixels': expected shape [-1, 8, 8], got [1, 5]"),
    ("POST", "/v1/models/digits:predict", {"instances": [[["a"] * 8] * 8]}, 400,
     "input 'pixels': expected float32 values of shape [-1, 8, 8]"),
    ("POST", "/v1/models/reviews:predict", {"instances": [3]}, 400, "input 'text': expected strings, got int"),
    ("POST", "/v1/models/nosuch:predict", {"instances": [1]}, 404,
     "Servable not found for request: Latest(nosuch); the models here: digits, reviews"),
    ("POST", "/v1/models/..:predict", {"instances": [1]}, 404,  # never a folder outside EXPORT_ROOT
     "Servable not found for request: Latest(..); the models here: digits, reviews"),
    ("POST", "/v1/models/digits/versions/7:predict", {"instances": [1]}, 404,
     "Servable not found for request: Specific(digits, 7); its versions: 1, 2"),
    ("POST", "/v1/models/digits:predict", {"instances": []}, 400, "\"instances\" must be a non-empty list"),
    ("POST", "/v1/models/digits:predict", {"rows": []}, 400, "the body must have one of \"instances\""),
    ("POST", "/v1/models/digits:predict", {"instances": [1], "signature_name": "nope"}, 400,
     "Serving signature name: \"nope\" not found in signature def; this model has serving_default"),
    ("POST", "/v1/models/digits:generate", {"prompt": "x"}, 400, "this model has no generate signature"),
    ("GET", "/v2/models", None, 404, "no such endpoint: /v2/models"),
    ("GET", "/v1/models/digits:predict", None, 405, ":predict takes POST"),
])
def test_bad_requests_get_one_line_and_the_server_serves_on(exports, method, path, body, status, message):
    _, port = exports
    got, answer = request(port, method, path, body)
    assert got == status and answer["error"].startswith(message) and "\n" not in answer["error"]
    assert request(port, "GET", "/v1/models/digits")[0] == 200


def test_empty_bodies_bad_json_and_bodies_over_the_limit(exports):
    _, port = exports
    assert request(port, "POST", "/v1/models/digits:predict", raw=b"") == (400, {"error": "the body is empty; send "
                                                                                         "a JSON object"})
    status, answer = request(port, "POST", "/v1/models/digits:predict", raw=b"{instances")
    assert status == 400 and answer["error"].startswith("the body is not JSON")
    status, answer = request(port, "POST", "/v1/models/digits:predict", {"instances": digits(1000).tolist()})
    assert status == 413 and "above the limit of 200,000 (tfmodels serve --max-body-bytes)" in answer["error"]
    assert request(port, "POST", "/v1/models/digits:predict", {"instances": digits(1).tolist()})[0] == 200


def test_a_folder_without_exports_is_refused(tmp_path):
    with pytest.raises(ExportError, match="holds no exported model"):
        make_server(tmp_path, port=0)


@pytest.mark.slow
def test_a_causal_lm_generates_whole_and_as_server_sent_events(tmp_path):
    config = apply_overrides(load_config(CONFIGS / "gpt_shakespeare_char.yaml"),
                             tiny_gpt(tmp_path, "model.gpt.num_layers=1", "trainer.max_steps=60",
                                      "trainer.eval_interval=30", "trainer.batch_size=8"))
    train(config, tmp_path / "run")
    tfmodels.export_run(tmp_path / "run", savedmodels_dir=tmp_path / "savedmodels")
    server = make_server(tmp_path / "savedmodels", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    whole = tfmodels.load(tmp_path / "savedmodels" / "run" / "1").generate("to be", max_new_tokens=20)
    status, body = request(port, "POST", "/v1/models/run:generate", {"prompt": "to be", "max_new_tokens": 20})
    assert status == 200 and body == {"text": whole}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/v1/models/run:generate", json.dumps({"prompt": "to be", "max_new_tokens": 10,
                                                                      "stream": True}))
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events = response.read().decode().split("\n\n")
    pieces = [json.loads(e.removeprefix("data: "))["text"] for e in events if e.startswith("data: ")]
    # within the block of 16, the pieces (8 + 2 characters) join to the whole text
    assert len(pieces) == 2 and "".join(pieces) == whole[:10] and events[-2] == "event: done\ndata: {}"
    # a client that leaves mid-stream: the server stops that generation and serves on
    s = socket.create_connection(("127.0.0.1", port))
    payload = json.dumps({"prompt": "to be", "max_new_tokens": 400, "stream": True}).encode()
    s.sendall(b"POST /v1/models/run:generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(payload),
                                                                                                      payload))
    assert s.recv(64).startswith(b"HTTP/1.1 200")
    s.close()
    status, body = request(port, "POST", "/v1/models/run:generate", {"prompt": "to be", "max_new_tokens": 20})
    assert status == 200 and body == {"text": whole}
    status, body = request(port, "POST", "/v1/models/run:generate", {"prompt": "", "max_new_tokens": 5})
    assert status == 400 and body == {"error": "\"prompt\" must be a non-empty string"}
    status, body = request(port, "POST", "/v1/models/run:generate", {"prompt": "QZ", "max_new_tokens": 5})
    assert status == 400 and "vocabulary" in body["error"]
    server.shutdown()
