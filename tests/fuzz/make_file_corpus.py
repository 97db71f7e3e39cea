#!/usr/bin/env python3
"""Writes the seed corpora of the file readers' fuzzers: small trace files
(tests/fuzz/trace_corpus/, for trace_reader_fuzzer.cc) written from the
format's description in docs/trace-format.md, independently of the C++
writer, and small kernel mmiotrace logs (tests/fuzz/kernel_log_corpus/, for
kernel_log_fuzzer.cc; the golden logs in tests/data/kernel_log are its other
corpus). Each seed exercises a kind of record or line, intact or damaged.

    tests/fuzz/make_file_corpus.py        # rewrites both directories
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b'\x7fMMIOTRC'

ACCESS, MAP, UNMAP, MARK, PCIDEV, UNKNOWN, LOST, ACCESS_RUN = range(1, 9)
MASKED, SPLIT, GENERIC, STEPPED, VALUE_UNKNOWN = 1, 2, 4, 8, 16


def pad8(b):
    return b + b'\0' * (-len(b) % 8)


def file_header(major=1, minor=1, header_size=64, features=0):
    h = struct.pack('<8sHHIQQQIIQQ', MAGIC, major, minor, header_size, features,
                    1_000_000_000, 1_700_000_000_000_000_000, 4242, 0, 0, 0)
    return h + b'\0' * (header_size - 64)


class Trace:
    """Records in seq order: every record takes one seq, an ACCESS_RUN `count`."""

    def __init__(self):
        self.seq = 1
        self.time = 1_000_000_000
        self.out = b''

    def record(self, rtype, body, seqs=1, tid=100):
        size = 24 + len(body)
        assert size % 8 == 0
        self.out += struct.pack('<HHIQQ', rtype, size, tid, self.seq, self.time) + body
        self.seq += seqs
        self.time += 1000

    def access(self, op, width, phys, value, mask=None, flags=0, insn=b'\x8b\x07'):
        full = (1 << width) - 1 if width < 64 else (1 << 64) - 1
        if mask is not None:
            flags |= MASKED
        body = struct.pack('<QQQIIBBBBI16s', phys, 0x401000, full if mask is None else mask, 77, 1, op,
                           width, len(insn), flags, 0, insn)
        self.record(ACCESS, body + pad8(value[:width].ljust(width, b'\0')))

    def run(self, op, width, phys, count, down=False):
        stride = -width if down else width
        values = bytes((i * 7) & 0xff for i in range(count * width))
        body = struct.pack('<QQIIIiBBBBI16s', phys, 0x401010, 77, 1, count, stride, op, width, 2, 0, 0,
                           b'\xf3\xa4')
        self.record(ACCESS_RUN, body + pad8(values), seqs=count)

    def map(self, phys, length, path=b'/sys/bus/pci/devices/0000:00:04.0/resource0'):
        body = struct.pack('<QQQQIIHHHHII', phys, 0x7f0000000000, length, 0, 77, 1, 1, 3, 0, len(path),
                           0x0020, 0)
        self.record(MAP, body + pad8(path))

    def unmap(self, length):
        self.record(UNMAP, struct.pack('<QQII', 0x7f0000000000, length, 77, 1))

    def mark(self, text):
        self.record(MARK, struct.pack('<IHH', 77, len(text), 0) + pad8(text))

    def pcidev(self, driver=b'edu'):
        starts = [0xfea00000, 0, 0, 0, 0, 0, 0]
        sizes = [0x100000, 0, 0, 0, 0, 0, 0]
        body = struct.pack('<IHHIHH7Q7Q', 0x0020, 0x1234, 0x11e8, 11, len(driver), 0, *starts, *sizes)
        self.record(PCIDEV, body + pad8(driver), tid=0)

    def unknown(self, phys):
        self.record(UNKNOWN, struct.pack('<QQIIB7s16s', phys, 0x401020, 77, 1, 4, b'', b'\xc4\xe2\x79\x90'))

    def lost(self, count):
        self.record(LOST, struct.pack('<Q', count), tid=0)

    def unknown_type(self, rtype=200, words=3):
        self.record(rtype, b'\xab' * (8 * words))


def every_record():
    t = Trace()
    t.pcidev()
    t.map(0xfea00000, 0x100000)
    t.mark(b'start of the test')
    t.access(1, 4, 0xfea00004, b'\x34\x12\0\0')
    t.access(0, 1, 0xfea00008, b'\x5a')
    t.access(0, 2, 0xfea0000a, b'\x01\x02')
    t.access(1, 8, 0xfea00010, bytes(range(8)))
    t.run(1, 1, 0xfea00100, 5)
    t.unknown(0xfea00020)
    t.lost(3)
    t.unmap(0x100000)
    return t.out


def main():
    traces = os.path.join(HERE, 'trace_corpus')
    logs = os.path.join(HERE, 'kernel_log_corpus')
    for d in (traces, logs):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))

    seeds = {}
    body = every_record()
    seeds['every_record'] = file_header() + body
    seeds['truncated_in_a_record'] = (file_header() + body)[:64 + len(body) // 2 + 5]
    seeds['header_only'] = file_header(features=3)
    seeds['truncated_header'] = file_header()[:40]
    seeds['newer_major'] = file_header(major=2)
    seeds['kernel_log_given_as_trace'] = b'VERSION 20070824\nMARK 1.000000 x\n'

    t = Trace()
    t.access(1, 16, 0x1000, bytes(range(16)), flags=GENERIC)
    t.access(0, 64, 0x1040, bytes(range(64)), mask=0x00ff00ff00ff00ff)
    t.access(1, 32, 0x1100, bytes(range(32)), mask=0x1)
    t.access(0, 10, 0x1200, bytes(range(10)), flags=GENERIC)
    t.access(0, 4, 0x1300, b'', flags=STEPPED | VALUE_UNKNOWN)
    t.access(1, 2, 0x1302, b'\xee\xff', flags=SPLIT)
    seeds['wide_masked_generic_stepped'] = file_header() + t.out

    t = Trace()
    t.map(0, 0x10000, path=b'/tmp/stand-in-device')
    t.run(0, 8, 0x8000, 40)
    t.run(1, 4, 0x9000, 60, down=True)
    t.run(1, 2, 0xfffffffffffffff0, 8)
    t.mark(b'multi\nline\r\nmark')
    seeds['access_runs'] = file_header() + t.out

    t = Trace()
    t.access(1, 4, 0x10, b'\1\2\3\4')
    t.unknown_type()
    t.unknown_type(rtype=9, words=1)
    t.access(1, 4, 0x14, b'\5\6\7\x08')
    seeds['longer_header_and_unknown_types'] = file_header(minor=7, header_size=96) + t.out

    t = Trace()
    t.access(1, 4, 0x10, b'\1\2\3\4')
    t.seq -= 2
    t.access(1, 4, 0x14, b'\5\6\7\x08')
    seeds['sequence_goes_back'] = file_header() + t.out

    t = Trace()
    t.mark(b'x' * 4000)
    t.pcidev(driver=b'')
    seeds['longest_mark'] = file_header() + t.out

    for name, data in seeds.items():
        with open(os.path.join(traces, name), 'wb') as f:  # no .mmio: .gitignore leaves out traces
            f.write(data)

    logs_seeds = {
        'ftrace_header_and_other_lines': (
            '# tracer: mmiotrace\n'
            '#\n'
            '# entries-in-buffer/entries-written: 5/5   #P:2\n'
            'VERSION 20070824\n'
            'PCIDEV 0020 123411e8 b fea00000 0 0 0 0 0 0 100000 0 0 0 0 0 0 edu\n'
            'MAP 2.000100 1 0xfea00000 0xffffc90000300000 0x100000 0x0 0\n'
            'CPU:1 [LOST 12 EVENTS]\n'
            '           bash-1234  [001] d..1.    12.345678: some_event: x=1\n'
            '          <idle>-0    (-------) [000] .... 12.345679: other: y\n'
            'R 4 2.000200 1 0xfea00004 0x12345678 0xffffffffc0001234 0\n'
            'W 1 2.000201 1 0xfea00008 0x5a 0xffffffffc0001240 0\n'
            'rw what?\n'
            'map what?\n'
            'MARK 0.000000 Lost 7 events.\n'
            'CPU:0 [LOST EVENTS]\n'
            'UNKNOWN 2.000300 1 0xfea00010 c4,e2,79 0xffffffffc0001250 0\n'
            'UNMAP 2.000400 1 0x0 0\n'),
        'crlf_and_no_final_newline': (
            'VERSION 20070824\r\n'
            'MARK 1.000000 text with  two  spaces\r\n'
            'W 8 1.000001 1 0x1000 0xffffffffffffffff 0x0 -1\r\n'
            'R 2 1.000002 -1 0x1002 ? 0x401000 4321'),
        'another_tracer': '# tracer: function\n#\n  bash-1 [000] .... 1.0: f <-g\n',
        'another_version': 'VERSION 20240101\nR 4 1.000000 1 0x0 0x0 0x0 0\n',
        'bad_width': 'VERSION 20070824\nR 3 1.000000 1 0x0 0x0 0x0 0\n',
        'long_line': 'VERSION 20070824\nMARK 1.000000 ' + 'y' * 9000 + '\n',
        'pcidev_no_driver_and_bad_field': (
            'PCIDEV 0008 12341111 0 fd000008 0 febb0000 0 0 0 febc0000 1000000 0 1000 0 0 0 10000 \n'
            'PCIDEV 0008 1234111 0 fd000008 0 febb0000 0 0 0 febc0000 1000000 0 1000 0 0 0 10000 x\n'),
    }
    for name, text in logs_seeds.items():
        with open(os.path.join(logs, name + '.log'), 'w', newline='') as f:
            f.write(text)


if __name__ == '__main__':
    main()
