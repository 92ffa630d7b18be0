"""TensorFlow Datasets, failing fast when a data set is not downloaded and there is no network.

`tfds.load` of an unprepared data set retries its downloads for minutes when offline. Here the
builder is made first (no network needed), and only when it is not prepared is the network
probed, with a short time limit, before TFDS is allowed to download.
"""

from __future__ import annotations

import socket
import threading

import numpy as np

from tfmodels.errors import DataError

# Where TFDS downloads from; only probed when a data set must be downloaded.
_DOWNLOAD_HOSTS = (("storage.googleapis.com", 443),)
_PROBE_SECONDS = 4.0


def network_reachable(hosts=_DOWNLOAD_HOSTS, timeout: float = _PROBE_SECONDS) -> bool:
    """True when a TCP connection to one of `hosts` opens within `timeout` seconds (DNS included)."""
    result = []

    def probe():
        for host, port in hosts:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    result.append(True)
                    return
            except OSError:
                continue

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo itself has no time limit
    thread.start()
    thread.join(timeout)
    return bool(result)


def prepared_builder(name: str, data_dir: str | None, spec_text: str):
    """Returns a TFDS builder whose data is on disk, downloading it only when the network answers."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(f"data spec '{spec_text}': TFDS has no data set named '{name}' (see `tfds.list_builders()`)") \
            from None
    if not builder.is_prepared():
        if not network_reachable():
            raise DataError(
                f"data spec '{spec_text}': TFDS data set '{name}' is not downloaded in {builder.data_dir} and "
                "the network is unreachable; download it where there is a network "
                f"(`python -c \"import tensorflow_datasets as tfds; tfds.builder('{name}').download_and_prepare()\"`) "
                "and copy ~/tensorflow_datasets here, or use a local file (csv:, idx:, npz:)"
            )
        builder.download_and_prepare()
    return builder


def load_tfds_arrays(name: str, split: str, data_dir: str | None, keys: tuple[str, str], spec_text: str):
    """Returns (images, labels) of one split as NumPy arrays."""
    builder = prepared_builder(name, data_dir, spec_text)
    splits = sorted(builder.info.splits.keys())
    if split not in splits:
        raise DataError(f"data spec '{spec_text}': split '{split}' does not exist; available: {', '.join(splits)}")
    image_key, label_key = keys
    features = builder.info.features
    for key in keys:
        if key not in features:
            raise DataError(f"data spec '{spec_text}': no feature '{key}'; features are {', '.join(features)}")
    batch = builder.as_dataset(split=split, batch_size=-1)
    import tensorflow_datasets as tfds

    arrays = tfds.as_numpy(batch)
    return np.asarray(arrays[image_key]), np.asarray(arrays[label_key])


def load_tfds_columns(name: str, split: str, data_dir: str | None, text_key: str | None, label_key: str,
                      spec_text: str):
    """Returns (texts as bytes, labels, class names) of one split of a text data set."""
    builder = prepared_builder(name, data_dir, spec_text)
    splits = sorted(builder.info.splits.keys())
    if split not in splits:
        raise DataError(f"data spec '{spec_text}': split '{split}' does not exist; available: {', '.join(splits)}")
    features = builder.info.features
    if text_key is None:
        text_key = next((k for k in ("text", "sentence", "review", "content") if k in features), None)
    for key, what in ((text_key, "text_key"), (label_key, "label_key")):
        if key not in features:
            raise DataError(f"data spec '{spec_text}': no feature '{key}' (set {what}); features are "
                            f"{', '.join(features)}")
    import tensorflow_datasets as tfds

    arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    names = list(getattr(features[label_key], "names", []) or [])
    return list(arrays[text_key]), np.asarray(arrays[label_key]), names
