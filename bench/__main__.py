"""`python -m bench`: every kmgen benchmark in one run, each figure beside its peer.

Sections: bundle size (vs Kissmetrics' own loader and a hand-minimal floor), per-call cost
in Chromium (vs the floor), cloud throughput (vs py-kissmetrics, see bench/cloud.py),
build time, and CPython mapping cost at 1k/10k/100k messages with its top profile.
`--quick` runs smaller counts (for a smoke run, not for the README).
"""

import argparse
import os
import platform

from bench import build_time, device, scaling

def machine():
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as handle:
            cpu = next(line.split(':', 1)[1].strip() for line in handle if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return '%s, %d cores, Python %s, %s' % (cpu, os.cpu_count(), platform.python_version(), platform.platform())


def row(*cells):
    return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench')
    parser.add_argument('--quick', action='store_true', help='small counts: a smoke run')
    parser.add_argument('--no-cloud', action='store_true', help='skip the cloud throughput section')
    parser.add_argument('--no-spark', action='store_true', help='skip the Spark section (bench/spark.py)')
    parser.add_argument('--no-bombs', action='store_true', help='skip the hostile bomb calls (for old builds)')
    parser.add_argument('--device', action='store_true', help='the device section only (sizes, per call, bombs)')
    args = parser.parse_args(argv)
    calls = 10000 if args.quick else 100000
    print('Machine: ' + machine())
    print()
    print(row('benchmark', 'kmgen', 'peer', 'ratio', 'goal', 'met'))
    print(row(*['---'] * 6))

    sizes = device.bundle_sizes()
    floor_gz = sizes['hand-minimal floor'][1]
    loader_gz = sizes['Kissmetrics loader snippet'][1]
    budget = device.budget()
    for name, (raw, gz) in sizes.items():
        if name.startswith(('kmgen.min.js', 'snippet.html')):
            file_name, site = name[:-1].split(' (')
            goal = budget['goal']['sites'].get(site, {}).get(file_name)
            print(row('%s gzip bytes' % name, '{:,} ({:,} raw)'.format(gz, raw),
                      'floor {:,}; KM loader {:,}; RudderStack 4,716; Segment 5,885'.format(floor_gz, loader_gz),
                      '%.1fx floor' % (gz / floor_gz), '<= {:,}'.format(goal) if goal else '-',
                      ('yes' if gz <= goal else 'no') if goal else '-'))
    for file_name, goal in budget['goal']['tapstream_adds'].items():
        added = sizes['%s (tapstream)' % file_name][1] - sizes['%s (shop)' % file_name][1]
        print(row('Tapstream adds to %s, gzip bytes' % file_name, '{:,}'.format(added), '-', '-',
                  '<= {:,}'.format(goal), 'yes' if added <= goal else 'no'))

    cost, bombs = device.per_call(calls, bombs=not args.no_bombs)
    for label, method, arguments, goal, segment, rudder in device.PAYLOADS:
        mine, floor = cost[label]
        print(row('%s in Chromium, us/call (%s calls)' % (label, format(calls, ',')), '%.2f' % mine,
                  'floor %.2f; Segment %dx, RudderStack %dx' % (floor, segment, rudder),
                  '%.1fx floor' % (mine / floor), '<= %dx floor' % goal, 'yes' if mine <= goal * floor else 'no'))
    if bombs:
        name = max(bombs, key=bombs.get)
        print(row('worst bomb call in Chromium, ms main thread (%d bombs)' % len(bombs), '%.1f' % bombs[name],
                  name, '-', '<= 50 ms', 'yes' if bombs[name] <= 50 else 'no'))
    if args.device:
        return 0

    if not args.no_cloud:
        from bench import cloud
        for line in cloud.table_rows(quick=args.quick):
            print(row(*line))

    if not args.no_spark:
        from bench import spark
        for line in spark.table_rows(100000 if args.quick else 1000000)[0]:
            print(row(*line))

    times = build_time.build_times()
    print(row('kmgen build, seconds', 'cold %.2f / warm %.2f' % (times['cold'], times['warm']), '-', '-',
              'cold < 2 s', 'yes' if times['cold'] < 2 else 'no'))

    per_event = scaling.per_event((1000, 10000) if args.quick else (1000, 10000, 100000))
    counts = sorted(per_event)
    spread = max(per_event.values()) / min(per_event.values())
    print(row('CPython mapping, us/event at ' + ' / '.join(format(c, ',') for c in counts),
              ' / '.join('%.2f' % per_event[c] for c in counts), '-', 'max/min %.2f' % spread, 'linear',
              'yes' if spread < 1.5 else 'no'))
    print()
    print('Top CPython mapping costs (cProfile, own time):')
    print(scaling.profile())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
