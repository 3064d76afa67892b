"""`python -m benchmarks`: list the benchmarks; each runs as `python -m benchmarks.<name>`."""

from pathlib import Path

for path in sorted(Path(__file__).parent.glob("bench_*.py")):
    doc = path.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0]
    print(f"python -m benchmarks.{path.stem:<28} {doc}")
