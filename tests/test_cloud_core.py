"""The delivery core as a Spark partition calls it, and the journal's file rules."""

import json
import os

import pytest

from kmgen import config
from kmgen.cloud.core import deliver, from_input
from kmgen.cloud.journal import Journal, OutputError
from kmgen.cloud.sender import Options
from tests.conftest import API_KEY
from tests.fake_km import FakeKM, matching
from tests.test_cloud_send import acked, expected_keys, messages

FAST = Options(retries=2, timeout=2, backoff=0.01, give_up=5)


def settings(server):
    return config.validate({'api_key': API_KEY, 'tracking_host': server.url})


def test_a_partition_run_twice_sends_the_same_t_for_untimed_events():
    items = messages(60)
    records = [('s3://bucket/part-0.jsonl', n, json.dumps(m)) for n, m in enumerate(items, 1)]
    with FakeKM(policy=matching('_p=u11&', 404)) as server:
        first = deliver(records, settings(server), FAST, untimed=from_input(1700000000))
        again = deliver(records, settings(server), FAST, untimed=from_input(1700000000))
        got = acked(server)
    assert first.tally['delivered'] == again.tally['delivered'] == 59 and first.tally['failed'] == 1
    assert [r['message'] for r in first.dead] == [items[11]] and first.dead[0]['line'] == 12
    assert first.dead[0]['t'] == from_input(1700000000)('s3://bucket/part-0.jsonl', 12)
    assert dict(first.tally.reasons) == {'HTTP 404': 1} and first.broken is None
    assert all(len(times) == 2 and len(set(times)) == 1 for times in got.values())
    assert len(got) == len(expected_keys(server, items)) - 1


def test_a_partition_whose_server_is_down_gives_up_and_counts_what_is_left():
    with FakeKM() as server:
        server.refuse()
        summary = deliver([('p', n, json.dumps(m)) for n, m in enumerate(messages(40), 1)], settings(server), FAST)
    assert summary.broken == 'cannot connect to 127.0.0.1:%d: connection refused' % server.port
    assert summary.dead == [] and summary.tally['unfinished'] == 40 and summary.tally['delivered'] == 0


def test_the_journal_ignores_a_torn_last_line_and_refuses_a_damaged_one(tmp_path):
    path = str(tmp_path / 'j')
    data = tmp_path / 'in.jsonl'
    data.write_text('{}\n' * 10)
    journal = Journal(path)
    state = journal.state(str(data))
    journal.done(state, [0, 1, 2, 5])
    journal.close()
    with open(path, 'ab') as handle:
        handle.write(b'{"f":0,"done":[[6,')
    assert Journal(path).state(str(data)).done == [[0, 3], [5, 6]]
    lines = open(path).read().splitlines()
    assert lines[-1] == '{"f":0,"done":[[0,3],[5,6]]}', 'the torn line was cut off'
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines[:2] + ['{oops'] + lines[2:]) + '\n')
    with pytest.raises(OutputError) as info:
        Journal(path)
    assert str(info.value) == ('The journal %s is damaged at line 3: move it away to start over (every input is '
                               'then sent again from its start).' % path)


def test_a_grown_file_is_the_same_input_and_a_replaced_one_is_new(tmp_path):
    path = str(tmp_path / 'j')
    data = tmp_path / 'in.jsonl'
    data.write_text('{"a": 1}\n' * 3)
    journal = Journal(path)
    journal.done(journal.state(str(data)), [0, 1, 2])
    journal.close()
    with open(data, 'a') as handle:
        handle.write('{"b": 2}\n')
    journal = Journal(path)
    assert journal.state(str(data)).done == [[0, 3]]
    journal.close()
    replacement = tmp_path / 'new'
    replacement.write_text('{"c": 3}\n' * 3)
    os.replace(replacement, data)
    assert Journal(path).state(str(data)).done == []
