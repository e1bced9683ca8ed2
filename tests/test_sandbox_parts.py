"""The sandbox's parts on their own: frame format, environment allowlist, scrubber, seeding."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from evolve import frames
from evolve.evaluator import Evaluator
from evolve.sandbox import Limits
from evolve.secrets import MASK, Scrubber, child_env, secret_values
from tests.engine_util import ROOT

PROBLEM = {"name": "sorting", "target": str(ROOT / "tests/problems/sorting.py") + ":SortingProblem",
           "instances": 20, "n": 30}


def _frame(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<4sIQ", b"EVF1", len(header), len(payload)) + header + payload


def test_frames_round_trip_plain_arrays():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    b = np.linspace(0, 1, 5).astype(">f8")  # big-endian input comes back little-endian
    reader = frames.FrameReader(1 << 20, 1 << 22)
    data = frames.encode({"type": "set", "index": 0}, {"a": a, "b": b, "c": np.array(True)})
    got = reader.feed(data[:7]) + reader.feed(data[7:])
    assert len(got) == 1
    header, arrays = got[0]
    assert header == {"type": "set", "index": 0}
    assert np.array_equal(arrays["a"], a) and np.allclose(arrays["b"], b) and arrays["c"]
    assert not arrays["a"].flags.writeable  # views of the received bytes


@pytest.mark.parametrize("data, message", [
    (b"PK\x03\x04" + bytes(12), "magic"),
    (_frame(b"[" * 5000 + b"]" * 5000), "JSON"),
    (_frame(b'{"no": "type"}'), "no type"),
    (struct.pack("<4sIQ", b"EVF1", 2 << 20, 0), "header of"),
    (struct.pack("<4sIQ", b"EVF1", 10, 1 << 40), "cap"),
    (_frame(json.dumps({"type": "set", "arrays": [{"name": "x", "dtype": "|O", "shape": [1]}]})
            .encode(), bytes(8)), "plain number"),
    (_frame(json.dumps({"type": "set", "arrays": [{"name": "x", "dtype": "<f8", "shape": [4]}]})
            .encode(), bytes(8)), "too short"),
    (_frame(json.dumps({"type": "set", "arrays": [{"name": "x", "dtype": "<f8", "shape": [-1]}]})
            .encode(), bytes(8)), "bad shape"),
    (_frame(json.dumps({"type": "set", "arrays": []}).encode(), bytes(8)), "longer"),
])
def test_frames_refuse_what_is_not_the_protocol(data, message):
    with pytest.raises(frames.FrameError, match=message):
        frames.FrameReader(1 << 20, 1 << 22).feed(data)


def test_frames_a_repeated_header_is_parsed_once_and_checked_every_time():
    """Streamed rounds repeat their header: its parse is reused, never its payload's checks."""
    x = np.arange(4.0)
    frame = frames.encode({"type": "in", "stage": "full"}, {"x": x})
    for _ in range(2):
        (header, arrays), = frames.FrameReader(1 << 20, 1 << 22).feed(frame)
        assert header == {"type": "in", "stage": "full"} and np.array_equal(arrays["x"], x)
        header["type"] = "changed by the caller"  # a caller's copy: the next parse is intact
    head = frame[frames.PREFIX_SIZE:-x.nbytes]
    assert head in frames._PARSED
    for payload, message in ((bytes(8), "too short"), (bytes(40), "longer")):
        with pytest.raises(frames.FrameError, match=message):
            frames.FrameReader(1 << 20, 1 << 22).feed(_frame(head, payload))
    nested = frames.encode({"type": "in", "extra": {"a": 1}})  # not flat: parsed every time
    big = frames.encode({"type": "in", "pad": "x" * 5000})  # too big to keep
    for data in (nested, big):
        frames.FrameReader(1 << 20, 1 << 22).feed(data)
        assert data[frames.PREFIX_SIZE:] not in frames._PARSED
    # the encoder's cache tells 1, 1.0, True, 0.0 and -0.0 apart
    texts = {frames.encode({"type": "in", "v": v})[frames.PREFIX_SIZE:]
             for v in (1, 1.0, True, 0.0, -0.0)}
    assert len(texts) == 5


def test_frames_cap_the_total_of_one_child():
    reader = frames.FrameReader(1 << 20, 1 << 21)
    chunk = frames.encode({"type": "set"}, {"x": np.zeros(100_000)})
    reader.feed(chunk)
    reader.feed(chunk)
    with pytest.raises(frames.FrameError, match="MB of results"):
        reader.feed(chunk)


def test_worker_environment_is_an_allowlist():
    env = {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-1234567890", "HTTPS_PROXY": "http://p:1",
           "GITHUB_TOKEN": "ghp_abcdefgh", "DB_PASSWORD": "hunter22hunter", "LC_ALL": "C",
           "OMP_NUM_THREADS": "1", "EVOLVE_API_KEY": "evolve-secret-1", "HOME": "/root",
           "AWS_SECRET_ACCESS_KEY": "abcdefghijk"}
    assert child_env(env) == {"PATH": "/usr/bin", "LC_ALL": "C", "OMP_NUM_THREADS": "1"}


def test_scrubber_masks_secrets_and_their_encodings():
    import base64

    env = {"OPENAI_API_KEY": "sk-live-0123456789abcdef", "SHORT_TOKEN": "abc", "PATH": "/bin"}
    values = secret_values(env)
    assert values == ["sk-live-0123456789abcdef"]
    scrub = Scrubber(values)
    key = values[0]
    text = (f"error: {key} | {key[::-1]} | {base64.b64encode(key.encode()).decode()} | "
            f"{key.encode().hex()} | abc stays")
    out = scrub(text)
    assert key not in out and key[::-1] not in out and out.count(MASK) == 4
    assert "abc stays" in out
    assert Scrubber([])("nothing to do") == "nothing to do"


def test_stochastic_program_scores_the_same_every_time():
    code = (ROOT / "tests/hostile/stochastic.py").read_text()
    with Evaluator(PROBLEM, Limits(timeout_s=30), workers=1, seed=5) as ev:
        a, b = ev.evaluate_sync(code), ev.evaluate_sync(code)
    with Evaluator(PROBLEM, Limits(timeout_s=30), workers=1, seed=6) as ev:
        others = [ev.evaluate_sync(code + f"\nVARIANT = {i}\n").score for i in range(3)]
    assert a.ok and b.ok and a.score == b.score
    assert len({a.score, *others}) > 1  # the seed (and program text) matter: not a constant
