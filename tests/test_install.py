"""kmgen installed from a wheel into a fresh venv finds its templates and js_runtime, and
its JavaScript engine gives the same ops as CPython (the editable install is the suite's own)."""

import json
import subprocess
import sys
import venv

import pytest

from tests.conftest import API_KEY, ROOT

MESSAGE = {'type': 'track', 'event': 'Signed Up', 'properties': {'plan': 'pro', 'revenue': '$9.99'}}


@pytest.fixture(scope='module')
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(tmp / 'dist'), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp / 'dist').glob('kmgen-*.whl'))
    venv.create(tmp / 'venv', with_pip=True)
    python = tmp / 'venv' / 'bin' / 'python'
    subprocess.run([str(python), '-m', 'pip', 'install', '-q', '--disable-pip-version-check', str(wheel)],
                   check=True, capture_output=True)
    return tmp / 'venv'


def test_wheel_carries_its_data_files(wheel_venv):
    code = ('from kmgen.paths import data_dir, project_root; '
            'print(data_dir("js_runtime")); print(data_dir("templates")); print(project_root())')
    out = subprocess.run([str(wheel_venv / 'bin' / 'python'), '-c', code], check=True, capture_output=True,
                         text=True, cwd='/').stdout.splitlines()
    assert out[0].endswith('site-packages/kmgen/_data/js_runtime')
    assert out[1].endswith('site-packages/kmgen/_data/templates')
    assert out[2] == 'None'


def test_wheel_install_runs_both_engines(wheel_venv, tmp_path):
    results = []
    for engine in ('python', 'js'):
        proc = subprocess.run(
            [str(wheel_venv / 'bin' / 'kmgen'), 'ops', '--api-key', API_KEY, '--engine', engine],
            input=json.dumps(MESSAGE), capture_output=True, text=True, cwd=ROOT,
            env={'PATH': '/usr/bin:/bin', 'KMGEN_CACHE_DIR': str(tmp_path / 'cache')})
        assert proc.returncode == 0, proc.stderr
        results.append(proc.stdout)
    assert results[0] == results[1] == (
        '[["record","Signed Up",{"Billing Amount":9.99,"Signed Up - plan":"pro","Signed Up - revenue":9.99}]]\n')
