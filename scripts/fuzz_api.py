"""Fuzz the API against its own OpenAPI schema with schemathesis (pip install schemathesis==4.32.5):

    python scripts/fuzz_api.py [--max-examples 50]

Builds an index of the bundled corpus into a temporary folder, serves it on 127.0.0.1 and runs
`schemathesis run` with all its checks (server errors, status codes, content types, headers and response
schemas as documented, schema-valid data accepted, schema-invalid data rejected, ...) on the operations of
the search API (/v1 and /mcp speak other protocols). Prints schemathesis's summary and exits with its
status. tests/test_hardening.py runs the same with 25 examples."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=50)
    args = ap.parse_args()
    st = shutil.which("schemathesis", path=str(BIN)) or shutil.which("schemathesis")
    if not st:
        print("schemathesis is not installed: pip install schemathesis==4.32.5", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wsis-fuzz-"))
    env = {**os.environ, "WSIS_INDEX_DIR": str(tmp / "index"), "WSIS_CACHE_DIR": str(tmp / "cache"),
           "WSIS_ASK_RATE_PER_MINUTE": "0"}
    subprocess.run([str(BIN / "wsis"), "build", "--quiet"], env=env, check=True, capture_output=True)
    from evaluation.localserver import start, stop

    server, base = start(env)
    try:
        cmd = [st, "run", f"{base}/openapi.json", "--checks", "all", "--exclude-path-regex", "^/(v1|mcp)",
               "--max-examples", str(args.max_examples)]
        print(" ".join(cmd), flush=True)
        return subprocess.run(cmd).returncode
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
