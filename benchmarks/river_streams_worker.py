"""The river side of benchmarks/drift_streams.py; runs in benchmarks/.venv-river, not the project.

river is a benchmark-only dependency, so everything that imports it lives here and talks to the
project's side through files:

    generate  write each (stream, seed) as Parquet: feature columns, label ``y``, ``row`` (0-based),
              ``drift_position`` (the true drift row) and ``drift_width`` (0: abrupt), plus a
              ``manifest.json``;
    adwin     read per-row model errors (Parquet: stream, seed, row, error), run river's ADWIN on
              each (stream, seed) in row order, write the rows where it fired as JSON.

    benchmarks/.venv-river/bin/python benchmarks/river_streams_worker.py generate --out DIR ...

A stream is two concepts joined at a known row. Abrupt streams (``width`` 0) take rows
``0 .. drift_row - 1`` from the first generator and the rest from the second: what
``synth.ConceptDriftStream(width=1)`` is meant to give, but in river 0.26.1 that class computes
``math.exp(-4 * (t - position) / width)`` unguarded, which overflows once ``position - t`` passes
~177 * width, so width 1 fails for any drift after row ~180. Gradual streams use
``ConceptDriftStream`` itself: it counts samples from 1 and gives sample ``position`` a 50% chance
of the new concept, so ``position = drift_row + 1`` puts the middle of the transition on the
0-based ``drift_row``. The second generator always gets its own seed, so the rows after the drift
are new draws, not a replay of the first rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import river
from river import drift
from river.datasets import synth

log = logging.getLogger("benchmarks.river_streams_worker")

DRIFT_SEED_OFFSET = 10_000  # the second generator's seed: seed + this, never equal to a base seed

# Each stream: the concept before, the concept after, the transition width in rows (0: abrupt),
# what moves, and which columns are categorical (river's Agrawal documents elevel, car and zipcode
# as its three categorical features).
AGRAWAL_CATEGORICAL = ["elevel", "car", "zipcode"]
SEA_MOVES = "concept only: label rule x0 + x1 > 8 becomes > 9 (10% label noise)"
STREAMS = {
    "sea": {
        "before": ("SEA", {"variant": 0, "noise": 0.1}),
        "after": ("SEA", {"variant": 1, "noise": 0.1}),
        "width": 0,
        "categorical": [],
        "moves": SEA_MOVES,
    },
    "sea_gradual": {
        "before": ("SEA", {"variant": 0, "noise": 0.1}),
        "after": ("SEA", {"variant": 1, "noise": 0.1}),
        "width": 2000,
        "categorical": [],
        "moves": SEA_MOVES + ", gradually over ~2,000 rows",
    },
    "agrawal": {
        "before": ("Agrawal", {"classification_function": 0}),
        "after": ("Agrawal", {"classification_function": 2}),
        "width": 0,
        "categorical": AGRAWAL_CATEGORICAL,
        "moves": "concept only: label function 0 (age) becomes function 2 (age and elevel)",
    },
    "hyperplane": {
        "before": ("Hyperplane", {"n_features": 10, "noise_percentage": 0.05}),
        "after": ("Hyperplane", {"n_features": 10, "noise_percentage": 0.05}),
        "width": 0,
        "categorical": [],
        "moves": "concept only: the hyperplane's weights are redrawn (the second seed); "
        "features stay uniform on [0, 1]",
    },
    "agrawal_prior_shift": {
        "before": ("Agrawal", {"classification_function": 4}),
        "after": ("Agrawal", {"classification_function": 4, "balance_classes": True}),
        "width": 0,
        "categorical": AGRAWAL_CATEGORICAL,
        "moves": "features and class mix: classes rebalanced from ~20% to 50% positive, which "
        "moves age and loan; the label function (P(y|x)) is unchanged",
    },
}


def _generator(spec: tuple[str, dict], seed: int):
    name, params = spec
    return getattr(synth, name)(seed=seed, **params)


def _column(key) -> str:
    return f"x{key}" if isinstance(key, int) else str(key)


def drift_interval(drift_row: int, width: int) -> tuple[int, int]:
    """First and last row of the transition; an abrupt drift starts and ends at ``drift_row``."""
    return drift_row - width // 2, drift_row + width // 2


def generate_one(name: str, seed: int, drift_row: int, rows_after: int, out: str) -> str:
    spec = STREAMS[name]
    before = _generator(spec["before"], seed)
    after = _generator(spec["after"], seed + DRIFT_SEED_OFFSET)
    n_rows = drift_interval(drift_row, spec["width"])[1] + rows_after
    if spec["width"] == 0:
        stream = itertools.chain(
            itertools.islice(before, drift_row), itertools.islice(after, n_rows - drift_row)
        )
    else:
        stream = synth.ConceptDriftStream(
            stream=before,
            drift_stream=after,
            position=drift_row + 1,
            width=spec["width"],
            seed=seed,
        )
    columns: dict[str, list] = {}
    labels = []
    for x, y in itertools.islice(stream, n_rows):
        for key, value in x.items():
            columns.setdefault(_column(key), []).append(value)
        labels.append(int(y))
    if len(labels) != n_rows:
        raise RuntimeError(f"{name} seed {seed}: {len(labels)} rows, expected {n_rows}")
    data = {
        **{
            col: pa.array(values, type=pa.int64() if col in spec["categorical"] else pa.float64())
            for col, values in columns.items()
        },
        "y": pa.array(labels, type=pa.int8()),
        "row": pa.array(range(n_rows), type=pa.int64()),
        "drift_position": pa.array([drift_row] * n_rows, type=pa.int64()),
        "drift_width": pa.array([spec["width"]] * n_rows, type=pa.int64()),
    }
    path = Path(out) / f"{name}_seed{seed}.parquet"
    pq.write_table(pa.table(data), path)
    return path.name


def generate(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.streams or list(STREAMS)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            (name, seed): pool.submit(
                generate_one, name, seed, args.drift_row, args.rows_after, str(out)
            )
            for name in names
            for seed in args.seeds
        }
        files = {key: f.result() for key, f in futures.items()}
    log.info("wrote %d streams", len(files))
    streams = {}
    for name in names:
        spec = STREAMS[name]
        start, end = drift_interval(args.drift_row, spec["width"])
        streams[name] = {
            "before": {"generator": spec["before"][0], **spec["before"][1]},
            "after": {"generator": spec["after"][0], **spec["after"][1]},
            "joined_by": "ConceptDriftStream" if spec["width"] else "switch at drift_row",
            "width": spec["width"],
            "drift_start": start,
            "drift_end": end,
            "rows": end + args.rows_after,
            "categorical": spec["categorical"],
            "moves": spec["moves"],
            "files": {str(seed): files[name, seed] for seed in args.seeds},
        }
    manifest = {
        "river_version": river.__version__,
        "drift_row": args.drift_row,
        "drift_seed_offset": DRIFT_SEED_OFFSET,
        "seeds": args.seeds,
        "streams": streams,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def adwin(args: argparse.Namespace) -> None:
    table = pq.read_table(args.errors).sort_by(
        [("stream", "ascending"), ("seed", "ascending"), ("row", "ascending")]
    )
    cols = [table.column(c).to_pylist() for c in ("stream", "seed", "row", "error")]
    detections: dict[str, dict[str, list[int]]] = {}
    detector, current, previous_row = None, None, None
    for stream, seed, row, error in zip(*cols, strict=True):
        if (stream, seed) != current:
            current, previous_row = (stream, seed), None
            detector = drift.ADWIN()  # river's defaults: delta 0.002, clock 32
            detections.setdefault(stream, {})[str(seed)] = []
        if previous_row is not None and row != previous_row + 1:
            raise ValueError(f"{stream} seed {seed}: rows not consecutive at {row}")
        previous_row = row
        detector.update(error)
        if detector.drift_detected:
            detections[stream][str(seed)].append(row)
    result = {"river_version": river.__version__, "detector": "ADWIN()", "rows": detections}
    Path(args.out).write_text(json.dumps(result))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker: %(message)s")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--out", required=True)
    gen.add_argument("--seeds", type=int, nargs="+", required=True)
    gen.add_argument("--drift-row", type=int, required=True, help="0-based (middle) drift row")
    gen.add_argument("--rows-after", type=int, required=True, help="rows after the drift's end")
    gen.add_argument("--streams", nargs="*", choices=list(STREAMS))
    gen.add_argument("--jobs", type=int, default=2)
    det = sub.add_parser("adwin")
    det.add_argument("--errors", required=True)
    det.add_argument("--out", required=True)
    args = parser.parse_args()
    {"generate": generate, "adwin": adwin}[args.command](args)


if __name__ == "__main__":
    main()
