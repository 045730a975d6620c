#!/usr/bin/env python3
"""What a kernel's inner loop costs on CPUs we do not have: compiles one kernel file with the
engine's flags for its table, takes the innermost loop of a function (the one with the most
integer multiply-adds), and asks llvm-mca (Debian: apt install llvm) how many cycles an
iteration takes on each CPU model, optionally beside the same file at another git revision.

  python3 native/tools/kernel_loop_mca.py avx2 'gemm_q4_0x16_n<4>' [--against REV]
      [--cpus haswell,skylake,icelake-client,znver3] [--multiplies N] [--file kquants_avx2.cpp]

A static model (ports and latencies from LLVM's scheduling tables, no caches, no frequency),
not a measurement: use it for what differs between cores (how many vector ports, which of
them multiply), and measure on the machine at hand as well (docs/benchmarks.md)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

NATIVE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(NATIVE)
# The tables' files and flags, as in binding.gyp.
TABLES = {
    'avx2': ('kernels_avx2.cpp', ['-mavx2', '-mfma', '-mf16c']),
    'avxvnni': ('kernels_avxvnni.cpp', ['-mavxvnni', '-mavx2', '-mfma', '-mf16c']),
    'avx512': ('kernels_avx512.cpp', ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mfma', '-mf16c']),
}
DEFAULT_CPUS = {
    'avx2': 'haswell,skylake,icelake-client,znver3',
    'avxvnni': 'icelake-client,sapphirerapids,znver3',
    'avx512': 'skylake-avx512,icelake-server,sapphirerapids',
}
MULTIPLIES = ('vpmaddubsw', 'vpdpbusd', 'vpmaddwd', 'vfmadd')
JUMP = re.compile(r'j\w+\s+([0-9a-f]+)')


def compile_object(src_dir, name, flags, out):
    subprocess.run(['g++', '-std=c++17', '-O3', '-ffp-contract=off', '-w', *flags, '-I' + src_dir, '-c', os.path.join(src_dir, 'kernels', name), '-o', out],
                   check=True)


def inner_loop(obj, function, multiplies=None):
    """The innermost loop (a backward jump with none inside it) of the function whose
    demangled name contains `function`, with the most multiply-adds (or exactly
    `multiplies` of them: a function with several kernels inlined), as llvm-mca input."""
    dis = subprocess.run(['objdump', '-d', '--no-show-raw-insn', '-C', obj], capture_output=True, text=True, check=True).stdout
    lines, inside = [], False
    for line in dis.splitlines():
        if line.endswith('>:'):
            inside = function in line
            continue
        m = re.match(r'\s*([0-9a-f]+):\s+(.*)', line) if inside else None
        if m:
            lines.append((int(m.group(1), 16), m.group(2).split('#')[0].strip()))
    best, counts = None, []
    for address, instruction in lines:
        m = JUMP.match(instruction)
        if not m or int(m.group(1), 16) >= address:
            continue
        start = int(m.group(1), 16)
        body = [(a, i) for (a, i) in lines if start <= a < address]
        if any(JUMP.match(i) and int(JUMP.match(i).group(1), 16) < a for (a, i) in body):
            continue  # not innermost
        count = sum(1 for (_, i) in body if i.startswith(MULTIPLIES) or ' vpdpbusd' in i)
        counts.append(count)
        if multiplies is not None and count != multiplies:
            continue
        if best is None or count > best[0]:
            best = (count, [re.sub(r'<[^>]*>', '', i) for (_, i) in body])
    if best is None:
        sys.exit(f'no such loop in a function named like {function!r} (inner loops with {sorted(set(counts))} multiply-adds)')
    return '\n'.join(best[1]) + '\n', best[0]


def cycles(loop_text, cpu):
    run = subprocess.run(['llvm-mca', '-mtriple=x86_64', f'-mcpu={cpu}', '-iterations=200'], input=loop_text, capture_output=True, text=True)
    m = re.search(r'Total Cycles:\s+(\d+)', run.stdout)
    return f'{int(m.group(1)) / 200:6.1f}' if run.returncode == 0 and m else '   n/a'  # n/a: the model lacks an instruction


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('table', choices=sorted(TABLES))
    parser.add_argument('function', help="part of the demangled name, e.g. 'gemm_q4_0x16_n<4>'")
    parser.add_argument('--against', help='a git revision of the same file to compare with')
    parser.add_argument('--cpus', help='llvm-mca -mcpu names, comma-separated')
    parser.add_argument('--multiplies', type=int, help='take the inner loop with exactly this many multiply-adds')
    parser.add_argument('--file', help="another file of the table's, built with its flags (e.g. kquants_avx2.cpp)")
    args = parser.parse_args()
    name, flags = TABLES[args.table]
    name = args.file or name
    cpus = (args.cpus or DEFAULT_CPUS[args.table]).split(',')
    with tempfile.TemporaryDirectory() as tmp:
        versions = [('this tree', os.path.join(NATIVE, 'src'))]
        if args.against:
            # The other revision's sources with its own headers.
            archive = subprocess.run(['git', '-C', ROOT, 'archive', args.against, 'native/src'], capture_output=True, check=True).stdout
            subprocess.run(['tar', '-x', '-C', tmp], input=archive, check=True)
            versions.append((args.against, os.path.join(tmp, 'native', 'src')))
        loops = []
        for i, (label, src_dir) in enumerate(versions):
            obj = os.path.join(tmp, f'{i}.o')
            compile_object(src_dir, name, flags, obj)
            loop, multiplies = inner_loop(obj, args.function, args.multiplies)
            loops.append((label, loop))
            print(f'{label}: {args.function} inner loop, {loop.count(chr(10))} instructions, {multiplies} multiply-adds')
        for cpu in cpus:
            row = '  '.join(f'{label} {cycles(loop, cpu)}' for (label, loop) in loops)
            print(f'{cpu:16s} cycles per iteration: {row}')


if __name__ == '__main__':
    main()
