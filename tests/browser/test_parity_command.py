"""`kmgen parity --config`: the table, and a non-zero exit on any mismatch."""

from kmgen import cli, parity
from tests.conftest import ROOT


def test_parity_command_passes_on_an_example(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = cli.main(['parity', '--config', 'examples/shop.toml', '--generated', '120'])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ['call', 'public', 'API', '->', '_kmq', 'message', '->', '_kmq', 'wire', '(beacons)']
    assert [line.split()[0] for line in lines[1:7]] == list(parity.CALL_TYPES)
    assert 'FAIL' not in out and lines[-1].startswith('OK: ')


def test_parity_command_fails_on_a_planted_wire_fault(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    real = parity.cloud_wire

    def faulty(messages, settings):
        requests = real(messages, settings)
        for kind, path, params in requests:
            if path == '/e':
                params['_n'] = params['_n'] + '!'
                break
        return requests
    monkeypatch.setattr(parity, 'cloud_wire', faulty)
    code = cli.main(['parity', '--config', 'examples/shop.toml', '--generated', '30'])
    out = capsys.readouterr().out
    assert code == 1
    assert 'FAIL' in out and 'request #0 differs' in out and out.splitlines()[-1].startswith('FAIL: ')
