"""Reads vis's event files with TensorBoard's own EventAccumulator and checks them against what
the Rust test wrote (tests/tensorboard.rs): tags, steps, image sizes and formats, scalar values,
the config text, and the APNG's bytes exactly.
Usage: python tensorboard_check.py LOGDIR EXPECTED.json"""

import json
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def png_chunks(data: bytes):
    """(type, body) of every chunk of a PNG."""
    at = 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        yield data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        at += 12 + length


def picture_size(data: bytes):
    """(format, width, height) from a PNG's IHDR (an APNG when an acTL chunk comes before the
    first IDAT) or a GIF's logical screen."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", data[16:24])
        for kind, _ in png_chunks(data):
            if kind in (b"acTL", b"IDAT"):
                return ("apng" if kind == b"acTL" else "png"), width, height
        return "png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    raise AssertionError(f"neither PNG nor GIF: {data[:8]!r}")


def main(logdir: str, expected_path: str) -> None:
    with open(expected_path) as f:
        expected = json.load(f)
    acc = EventAccumulator(logdir, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    assert sorted(tags["images"]) == sorted(expected["images"]), tags["images"]
    assert sorted(tags["scalars"]) == sorted(expected["scalars"]), tags["scalars"]
    for tag, want in expected["images"].items():
        got = [
            [e.step, *picture_size(e.encoded_image_string), e.width, e.height]
            for e in acc.Images(tag)
        ]
        want = [[step, fmt, w, h, w, h] for step, fmt, w, h in want]
        assert got == want, (tag, got, want)
    for tag, by_step in expected["bytes"].items():
        events = {str(e.step): e.encoded_image_string for e in acc.Images(tag)}
        for step, want in by_step.items():
            data = events[step]
            assert data == bytes.fromhex(want), (tag, step, "bytes differ")
            chunks = list(png_chunks(data))
            actl = next(body for kind, body in chunks if kind == b"acTL")
            frames, plays = struct.unpack(">II", actl)
            fctl = [body for kind, body in chunks if kind == b"fcTL"]
            assert plays == 0 and frames == len(fctl) > 1, (tag, frames, plays, len(fctl))
    for tag, want in expected["scalars"].items():
        got = [[e.step, e.value] for e in acc.Scalars(tag)]
        assert len(got) == len(want), (tag, got, want)
        for (step, value), (want_step, want_value) in zip(got, want):
            assert step == want_step, (tag, got, want)
            # simple_value is a float32.
            assert abs(value - want_value) <= 1e-6 * max(1.0, abs(want_value)), (tag, got, want)
    for tag, want in expected["text"].items():
        events = acc.Tensors(tag)
        assert len(events) == 1, (tag, events)
        text = events[0].tensor_proto.string_val[0].decode()
        for needle in want:
            assert needle in text, (tag, needle, text)
    print(
        "EventAccumulator read",
        sum(len(v) for v in expected["images"].values()),
        "images,",
        sum(len(v) for v in expected["scalars"].values()),
        "scalars and",
        len(expected["text"]),
        "text summary",
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
