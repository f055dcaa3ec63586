"""Times OpenCV's PNG encoder (cv2.imencode with its defaults, what MMagic's cv2.imwrite runs:
compression 1, the RLE strategy) on grids vis-bench wrote as raw RGB files, and prints their
median time and size as JSON. Usage: python opencv_png.py GRIDS.json [--reps N]"""

import argparse
import json
import time

import cv2
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("grids")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rows = []
    with open(args.grids) as f:
        grids = json.load(f)
    for grid in grids:
        rgb = np.fromfile(grid["path"], dtype=np.uint8).reshape(grid["height"], grid["width"], 3)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        ok, encoded = cv2.imencode(".png", bgr)
        assert ok
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        assert np.array_equal(decoded, bgr), grid["workload"]
        times = []
        start = time.perf_counter()
        while len(times) < args.reps or (time.perf_counter() - start < 0.4 and len(times) < 500):
            t = time.perf_counter()
            cv2.imencode(".png", bgr)
            times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        rows.append({
            "workload": grid["workload"],
            "ms": times[len(times) // 2],
            "bytes": int(encoded.size),
            "pixels": grid["width"] * grid["height"],
        })
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
