"""Corpora larger than memory (`text:GLOB?stream=true`, tfmodels/data/streams.py): the stream tokenizes as the
in-memory path does, its order is a function of the seed, a resume continues it exactly, and a masked LM and a
GPT train on a corpus larger than a memory cap set on their process."""

import random
import resource
import subprocess
import sys

import numpy as np
import pytest

from tfmodels.config import TextTableOptions, TokenizerConfig, apply_overrides, load_config
from tfmodels.data.lm_tokenizers import learn_codec
from tfmodels.data.masked_lm_pipeline import token_chunks
from tfmodels.data.streams import TextStream, lm_windows, masked_lm_sequences, masked_lm_stream
from tfmodels.data.text import load_text
from tfmodels.data.tokenizers import TextPreprocessor, learn_vocabulary
from tfmodels.errors import DataError
from tfmodels.verbs.train import train

WORDS = "the film is good bad dull great plot actor scene story not very a an and but".split()
TINY_MLM = ["data.validation=null", "logging.verbose=0", "logging.histogram_freq=0", "data.tokenizer.vocabulary_size=200",
            "data.tokenizer.sequence_length=32", "model.encoder.num_layers=1", "model.encoder.width=32",
            "model.encoder.num_heads=2", "model.encoder.ffn_dim=64", "trainer.max_steps=40", "trainer.eval_interval=20",
            "runtime.deterministic=true"]
TINY_GPT = ["data.tokenizer.kind=bpe", "data.tokenizer.vocabulary_size=300", "model.gpt.block_size=32",
            "model.gpt.num_layers=1", "model.gpt.width=32", "model.gpt.num_heads=2", "trainer.max_steps=40",
            "trainer.eval_interval=20", "trainer.batch_size=8", "trainer.eval_batches=2", "trainer.warmup_steps=5",
            "logging.verbose=0", "runtime.deterministic=true"]


def write_shards(folder, files=4, lines=1500, seed=0):
    rng = random.Random(seed)
    folder.mkdir(exist_ok=True)
    for i in range(files):
        with open(folder / f"part-{i}.txt", "w") as f:
            for _ in range(lines):
                f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "\n")
    return f"text:{folder}/part-*.txt?stream=true"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards") / "corpus")


def stream_of(spec):
    return load_text(spec, "train", labelled=False)


def test_a_stream_cuts_the_same_sequences_as_the_whole_corpus_in_memory(shards):
    one = TextStream(stream_of(shards).files[:1], "one file")
    texts = one.first_lines(10**6)
    preprocessor = TextPreprocessor(learn_vocabulary(texts, TokenizerConfig(vocabulary_size=200), seed=0),
                                    TokenizerConfig(sequence_length=32))
    streamed = np.stack(list(masked_lm_sequences(one, preprocessor.tokenize, preprocessor.sep_id, preprocessor.cls_id,
                                                 32, seed=0, epoch=0, buffer=1).as_numpy_iterator()))
    np.testing.assert_array_equal(streamed, token_chunks(texts, preprocessor))  # no shuffle: the same, in order
    codec = learn_codec("bpe", texts, 300)
    windows = [w for x, y in lm_windows(one, codec.tf_encode, codec.end_of_text, 16, 0, 1, 0, 50, 1)
               .as_numpy_iterator() for w in np.concatenate([x, y[:, -1:]], 1)]
    ids = np.concatenate([np.append(codec.encode(t), codec.end_of_text) for t in texts])
    np.testing.assert_array_equal(np.stack(windows), ids[:50 * 17].reshape(50, 17))


def test_the_order_is_the_seeds_and_a_resume_continues_it_exactly(shards):
    stream = stream_of(shards)
    texts = stream.first_lines(10**6)
    preprocessor = TextPreprocessor(learn_vocabulary(texts, TokenizerConfig(vocabulary_size=200), seed=0),
                                    TokenizerConfig(sequence_length=32))
    p = preprocessor

    def batches(seed, skip, take=30):
        ds = masked_lm_stream(stream, p.tokenize, p.sep_id, p.cls_id, 32, seed, 16, buffer=100)
        return list(ds.skip(skip).take(take).as_numpy_iterator())

    whole = batches(0, 0)
    for a, b in zip(whole[12:], batches(0, 12, 18)):  # resumed at step 12: the batches a run never stopped saw
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(whole, batches(1, 0)))  # another seed, another order
    sequences = len(token_chunks(texts, p))  # a pass's, whatever the order of its files
    many = batches(0, 0, take=sequences // 16 + 5)  # past the first pass: the second, in another order
    assert len(many) == sequences // 16 + 5


def test_a_masked_lm_and_a_gpt_train_on_a_stream_and_resume_exactly(shards, tmp_path):
    from helpers import CrashAfterEpoch

    mlm = apply_overrides(load_config("mlm_synthetic"), [f"data.train={shards}", *TINY_MLM])
    whole = train(mlm, tmp_path / "mlm")
    assert whole.metrics["steps_trained"] == 40 and whole.metrics["validation"]["loss"] < 5.3  # ln(200)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(mlm, tmp_path / "mlm_crash", callbacks=[CrashAfterEpoch(0)])
    resumed = train(mlm, tmp_path / "mlm_crash")
    assert resumed.metrics["resumed_after_epoch"] == 1
    for a, b in zip(whole.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    gpt = apply_overrides(load_config("gpt_shakespeare_char"), [f"data.train={shards}", *TINY_GPT])
    whole = train(gpt, tmp_path / "gpt")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(gpt, tmp_path / "gpt_crash", callbacks=[CrashAfterEpoch(0)])
    said = []
    resumed = train(gpt, tmp_path / "gpt_crash", log=said.append)
    assert any(line.startswith("resuming after step 20 from") for line in said), said  # steps, not "epoch 1"
    for a, b in zip(whole.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    info = (tmp_path / "gpt" / "data.json").read_text()
    assert '"streamed": {"train": {"files": 3}}' in info.replace("\n", "").replace("  ", "") or '"files": 3' in info


def test_what_a_stream_cannot_do_is_said_in_one_line(shards, tmp_path):
    with pytest.raises(DataError, match="stream=true reads an unlabelled corpus, for pretraining"):
        load_text(shards, "train", labelled=True)
    with pytest.raises(DataError, match="matches no file"):
        stream_of(f"text:{tmp_path}/none-*.txt?stream=true")
    (tmp_path / "one").mkdir()
    single = write_shards(tmp_path / "one", files=1, lines=50)
    config = apply_overrides(load_config("mlm_synthetic"), [f"data.train={single}", *TINY_MLM])
    with pytest.raises(DataError, match="streams one file, so nothing is left to hold out"):
        train(config, tmp_path / "run")
    by_epochs = apply_overrides(load_config("mlm_synthetic"), [f"data.train={shards}", *TINY_MLM[:-3],
                                                               "trainer.epochs=1"])
    with pytest.raises(DataError, match="a masked LM on a stream trains by steps"):
        train(by_epochs, tmp_path / "run2")
    characters = apply_overrides(load_config("gpt_shakespeare_char"), [f"data.train={shards}", *TINY_GPT[1:]])
    with pytest.raises(DataError, match="use data.tokenizer.kind=bpe"):
        train(characters, tmp_path / "run3")


CAP = 1280 * 2**20  # RLIMIT_DATA of the training process: 1.25 GiB of heap and private memory
CORPUS_BYTES = 1536 * 2**20  # 1.5 GiB of text, in 12 files


def capped(*argv, cwd):
    """`python -m tfmodels ARGV` with the kernel refusing it more than CAP of data memory (RLIMIT_DATA counts
    the heap and every private writable mapping: what reading a corpus into memory needs)."""
    return subprocess.run([sys.executable, "-m", "tfmodels", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=900, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (CAP, CAP)))


@pytest.mark.slow
def test_a_corpus_larger_than_the_memory_cap_trains_as_a_stream_and_not_whole(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    rng = random.Random(0)
    block = "".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "\n" for _ in range(20_000))
    block = block.encode()
    per_file = CORPUS_BYTES // 12
    for i in range(12):
        with open(folder / f"part-{i:02d}.txt", "wb") as f:
            for _ in range(per_file // len(block) + 1):
                f.write(block)
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size > CAP
    spec = f"text:{folder}/part-*.txt?stream=true"
    sets = lambda overrides: [a for o in overrides for a in ("--set", o)]  # noqa: E731
    mlm = capped("train", "mlm_synthetic", "--run-dir", "mlm", *sets([f"data.train={spec}", *TINY_MLM]), cwd=tmp_path)
    assert mlm.returncode == 0, mlm.stderr[-2000:]
    gpt = capped("train", "gpt_shakespeare_char", "--run-dir", "gpt", *sets([f"data.train={spec}", *TINY_GPT]),
                 cwd=tmp_path)
    assert gpt.returncode == 0, gpt.stderr[-2000:]
    assert '"status": "finished"' in (tmp_path / "gpt" / "metrics.json").read_text()
    # the same corpus read whole, under the same cap: the kernel refuses the memory
    every_file = "[" + ", ".join(f'"text:{p}"' for p in sorted(folder.iterdir())) + "]"
    whole = capped("train", "mlm_synthetic", "--run-dir", "whole", *sets([f"data.train={every_file}", *TINY_MLM]),
                   cwd=tmp_path)
    assert whole.returncode == 2 and whole.stderr.strip().splitlines()[-1].startswith(
        "error: out of memory: what this command holds does not fit the memory this process may use; read a large "
        "corpus as a stream (text:GLOB?stream=true)"), whole.stderr[-2000:]
    assert "Traceback" not in whole.stderr


def tiny_tfds(data_dir):
    """A TFDS data set made here, offline: 600 training texts and 100 validation texts."""
    import tensorflow_datasets as tfds

    class TinyReviews(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"text": tfds.features.Text()}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(600, 0), "validation": self._generate_examples(100, 1)}

        def _generate_examples(self, n, seed):
            rng = random.Random(seed)
            for i in range(n):
                yield i, {"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))}

    builder = TinyReviews(data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder.name


def test_a_tfds_corpus_streams_record_by_record(tmp_path):
    name = tiny_tfds(tmp_path / "tfds")
    spec = f"tfds:{name}?data_dir={tmp_path / 'tfds'}&stream=true"
    stream = stream_of(spec)
    assert stream.split == "train" and stream.text_key == "text" and len(stream.first_lines(10**6)) == 600
    config = apply_overrides(load_config("mlm_synthetic"), [f"data.train={spec}", *TINY_MLM])
    result = train(config, tmp_path / "run")
    assert result.metrics["status"] == "finished"
    info = (tmp_path / "run" / "data.json").read_text()
    assert f'"tfds": "{name}"' in info and '"validation": 100' in info  # its validation split held out
    with pytest.raises(DataError, match="split 'dev' does not exist; available: train, validation"):
        stream_of(f"tfds:{name}?data_dir={tmp_path / 'tfds'}&stream=true&split=dev")


def test_a_table_streams_its_text_column_as_the_same_texts(shards, tmp_path):
    one = TextStream(stream_of(shards).files[:1], "one file")
    texts = one.first_lines(10**6)
    for i, chunk in enumerate((texts[:700], texts[700:])):  # two tables of label<TAB>text, with a header
        (tmp_path / f"part-{i}.tsv").write_text("label\tcontent\n" + "".join(f"{j % 2}\t{t}\n" for j, t in
                                                                               enumerate(chunk)))
    table = load_text(f"tsv:{tmp_path}/part-*.tsv?stream=true", "train", labelled=False)
    assert table.column == 1 and table.header and table.first_lines(10**6) == texts
    streamed = [t.decode() for t in table.lines(seed=0, epoch=0).as_numpy_iterator()]
    assert sorted(streamed) == sorted(texts)  # every row's text, once, the files in a seeded order
    by_name = load_text(f"tsv:{tmp_path}/part-*.tsv?stream=true&text_column=content", "train", labelled=False)
    assert by_name.column == 1
    with pytest.raises(DataError, match="a streamed corpus reads one text column"):
        load_text(f"tsv:{tmp_path}/part-*.tsv?stream=true", "train", TextTableOptions(text_column=[0, 1]),
                  labelled=False)
