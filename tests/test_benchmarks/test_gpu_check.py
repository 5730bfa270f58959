"""benchmarks/gpu_check.py: the CPU dry run (issue 18) runs its CPU-possible
checks at tiny sizes, passes them, and names what it skipped."""
import re
import subprocess
import sys

import pytest
import torch

from tests.fixtures.helpers import REPO_ROOT, run_tool, tool_env


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the dry run is the CPU variant')
def test_dry_run_runs_the_cpu_checks_and_names_the_skipped(tmp_path):
    out = tmp_path / 'gpu_check.md'
    proc = run_tool(['benchmarks/gpu_check.py', '--dry-run', '--out',
                     str(out)], timeout=900)
    table = out.read_text()
    assert table in proc.stdout  # printed and written alike
    assert table.startswith('# GPU check (DRY RUN on CPU, tiny sizes)')
    assert 'no GPU (CPU dry run)' in table
    rows = [line.split(' | ') for line in table.splitlines()
            if line.startswith('| ') and not line.startswith('| check')]
    status = {}
    for row in rows:
        status.setdefault(row[0].strip('| '), []).append(row[-1].strip(' |'))
    assert 'FAIL' not in sum(status.values(), [])
    # fp16 AMP vs fp32 for all three algorithms, with a loss scale
    amp = [line for line in table.splitlines() if line.startswith('| amp')]
    assert [name for name in ('ConMIM', 'A2MIM', 'CIM')
            if any(f'{name} demo model' in line for line in amp)] == [
                'ConMIM', 'A2MIM', 'CIM']
    for line in amp:
        assert 'PASS' in line
        assert re.search(r'rel\. diff [\d.e+-]+, bound 0\.02', line)
        assert re.search(r'loss scale \d+', line)
    assert status['speed'][0] == 'MEASURED'
    assert re.search(r'\| speed \| ours: .* \| [\d.]+ img/s', table)
    for check in ('nccl', 'fsdp', 'distbn'):
        assert 'PASS' in status[check], check
    assert 'checkpoint holds full student and teacher weights: True' in table
    assert re.search(r'DistBN vs one BatchNorm [\d.e+-]+ \(bound 1e-05\)',
                     table)
    assert status['loop'] == ['MEASURED']
    # what a CPU cannot run is skipped, and the reason given
    skipped = table.split('Skipped: ')[1]
    for part in ('memory (ViT-L with/without with_cp: needs CUDA)',
                 'SyncBatchNorm: CUDA-only', 'NCCL itself',
                 'official step'):
        assert part in skipped, part


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_without_dry_run_on_cpu_it_stops_with_a_clear_message():
    proc = subprocess.run(
        [sys.executable, 'benchmarks/gpu_check.py'], cwd=REPO_ROOT,
        env=tool_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'no CUDA device' in proc.stderr and '--dry-run' in proc.stderr


def test_report_table_and_failure_status():
    from benchmarks.gpu_check import Report
    report = Report()
    report.add('amp', 'ConMIM', 'a | b', 'PASS')
    report.skip('fsdp', 'needs CUDA')
    report.add('nccl', 'x', 'error', 'FAIL')
    text = report.markdown('# head')
    assert '| amp | ConMIM | a / b | PASS |' in text
    assert '| fsdp | - | needs CUDA | SKIPPED |' in text
    assert text.rstrip().endswith('Skipped: fsdp (needs CUDA)')
    assert [row[0] for row in report.failed] == ['nccl']
