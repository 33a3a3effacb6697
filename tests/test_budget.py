"""The size budget (bench/budget.json) against every dist/<site>/manifest.json: each built
file's gzip bytes stay within its ratchet, and the manifest's figure is the file's own."""

import gzip
import json

import pytest

from tests.conftest import ROOT

BUDGET = json.loads((ROOT / 'bench' / 'budget.json').read_text(encoding='utf-8'))
MANIFESTS = sorted((ROOT / 'dist').glob('*/manifest.json'))


def gzip_bytes(site):
    """{file: gzip bytes} as dist/<site>/manifest.json states them."""
    files = json.loads((ROOT / 'dist' / site / 'manifest.json').read_text(encoding='utf-8'))['files']
    return {name: entry['gzip_bytes'] for name, entry in files.items() if name != 'manifest.json'}


def over(figures, budget, what):
    """Lines 'what file: number, budget, delta' for every figure, and the ones past budget."""
    lines, failures = [], []
    for name, number in sorted(figures.items()):
        limit = budget.get(name)
        if limit is None:
            failures.append('%s %s: %d gzip bytes and no ratchet in bench/budget.json; add "%s": %d there.'
                            % (what, name, number, name, number))
            continue
        line = '%s %s: %d gzip bytes, budget %d, delta %+d' % (what, name, number, limit, number - limit)
        lines.append(line)
        if number > limit:
            failures.append(line + ': over its ratchet; make it smaller, or raise the ratchet in bench/budget.json '
                            'in this commit and say why.')
    print('\n'.join(lines))
    return failures


@pytest.mark.parametrize('manifest', MANIFESTS, ids=lambda p: p.parent.name)
def test_every_built_file_is_within_its_ratchet(manifest):
    site = manifest.parent.name
    ratchet = BUDGET['ratchet']['sites'].get(site)
    assert ratchet is not None, 'dist/%s has no ratchet in bench/budget.json ("ratchet" -> "sites" -> "%s").' % (
        site, site)
    assert over(gzip_bytes(site), ratchet, 'dist/' + site) == []


@pytest.mark.parametrize('manifest', MANIFESTS, ids=lambda p: p.parent.name)
def test_the_manifest_states_each_files_own_gzip_size(manifest):
    site = manifest.parent.name
    for name, number in gzip_bytes(site).items():
        actual = len(gzip.compress((ROOT / 'dist' / site / name).read_bytes(), 9, mtime=0))
        assert number == actual, 'dist/%s/manifest.json says %s is %d gzip bytes; it is %d: rebuild dist.' % (
            site, name, number, actual)


def test_tapstream_adds_within_its_ratchet():
    shop, tapstream = gzip_bytes('shop'), gzip_bytes('tapstream')
    added = {name: tapstream[name] - shop[name] for name in BUDGET['ratchet']['tapstream_adds']}
    assert over(added, BUDGET['ratchet']['tapstream_adds'], 'tapstream adds to') == []

