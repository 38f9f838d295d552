"""The web's answer to an upload: the save and `importer.scan`, on a 64 MB Mailchimp export.

The largest upload the form takes (64 MB; about 525,000 rows, as bench_transfer writes
them, with one NOTES cell over 128 KB so the slow path is taken once) is written to a
temporary folder, then timed in turns, in this one process (no database, no Redis: this
is the part of `transfers.start_import` before anything is written):

- save: the upload copied where the form saves it (`shutil.copyfile`).
- baseline: the bare `csv.reader` over the file, every row touched (`len(cells)`).
- scan, every cell checked: `importer.too_long` called on every row, as `scan` did
  before it looked at the longest cell first (the same function, so the same findings).
- scan: `importer.scan` as it is now.

Each is run `--turns` times, alternating, and the median is taken; both scans must
report the same rows. Target: save + scan < 30 s (gunicorn's timeout) on a loaded machine.

    .venv/bin/python bench/bench_scan.py [--mb 64] [--turns 3]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from bench_transfer import HEADER, reader_row

from transfers import csvfile, importer
from transfers.formats import detect_format


def write_file(path: Path, megabytes: float) -> int:
    """A Mailchimp export of about `megabytes`; its third data row has a NOTES cell over 128 KB."""
    limit = megabytes * 1_000_000
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        while f.tell() < limit:
            long = "x" * (csvfile.MAX_CELL + 1) if rows == 2 else ""
            writer.writerow(reader_row(rows, long))
            rows += 1
    return rows


def baseline(path: Path) -> tuple[str, int, list]:
    count = 0
    with path.open(encoding="utf-8-sig", newline="") as f:
        for cells in csv.reader(f):
            count += bool(len(cells))
    return "", count - 1, []


def scan_every_cell(path: Path) -> tuple[str, int, list]:
    """`scan` as it was: `too_long` on every row."""
    csvfile._parser_ready()
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
        fmt = detect_format(header)
        count = 0
        oversized = []
        for cells in reader:
            count += 1
            reason = csvfile.too_long(header, cells)
            if reason:
                oversized.append(csvfile.Invalid(reader.line_num, reason))
    return fmt, count, oversized


def scan_now(path: Path) -> tuple[str, int, list]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        fmt, count, big = importer.scan(f)
    return fmt, count, big.kept


def save(path: Path) -> tuple[str, int, list]:
    target = path.with_suffix(".saved.csv")
    shutil.copyfile(path, target)
    target.unlink()
    return "", 0, []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=64)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    benchlib.header("The web's scan of an upload", sys.argv)
    csvfile._parser_ready()  # the baseline reads the long cell too
    tmp = Path(tempfile.mkdtemp(prefix="tend-bench-scan-"))
    try:
        path = tmp / "members_export.csv"
        rows = write_file(path, args.mb)
        print(f"file: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB", flush=True)
        runs = {
            "save": save,
            "baseline: csv.reader": baseline,
            "scan, every cell checked (before)": scan_every_cell,
            "scan (now)": scan_now,
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        results: dict[str, tuple] = {}
        for _ in range(args.turns):
            for name, run in runs.items():
                started = time.perf_counter()
                results[name] = run(path)
                times[name].append(time.perf_counter() - started)
        before, now = results["scan, every cell checked (before)"], results["scan (now)"]
        same = before[:2] == now[:2] and [(i.line, i.reason) for i in before[2]] == [
            (i.line, i.reason) for i in now[2]
        ]
        median = {name: statistics.median(t) for name, t in times.items()}
        base, saved = median["baseline: csv.reader"], median["save"]
        table = [
            [name, f"{median[name]:.2f}", f"{median[name] / base:.2f}", ""]
            for name in runs
            if name != "save"
        ]
        table[0][0] += f" (save: {saved:.2f} s)"
        answer_before = saved + median["scan, every cell checked (before)"]
        answer_now = saved + median["scan (now)"]
        table += [
            ["upload answer before (save + scan)", f"{answer_before:.2f}", "", "30 s"],
            ["upload answer now (save + scan)", f"{answer_now:.2f}", "", "30 s"],
        ]
        print(benchlib.table(["run", "median s", "ratio to csv.reader", "target"], table))
        print(
            f"scan now / before: {median['scan (now)'] / median['scan, every cell checked (before)']:.2f}"
        )
        print(
            f"same findings: {'yes' if same else 'no'} ({now[1]:,} rows, {len(now[2])} oversized)"
        )
        ok = same and answer_now < 30
        print("all targets met: yes" if ok else "all targets met: no", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
