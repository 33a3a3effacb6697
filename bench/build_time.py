"""`kmgen build` wall time: cold (a new process, as a user runs it) and warm (in-process)."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_times(config='examples/shop.toml', warm_runs=5):
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, 'PYTHONDONTWRITEBYTECODE': '1'}
        started = time.perf_counter()
        subprocess.run([sys.executable, '-m', 'kmgen', 'build', '--config', config, '--out', tmp + '/cold'],
                       cwd=ROOT, check=True, capture_output=True, env=env)
        cold = time.perf_counter() - started
        from kmgen.device.build import build
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            warm = min(build(config, Path(tmp) / 'warm')[2] for _ in range(warm_runs))
        finally:
            os.chdir(cwd)
    return {'cold': cold, 'warm': warm}
