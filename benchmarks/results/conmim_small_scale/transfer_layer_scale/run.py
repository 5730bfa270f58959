"""Transfer diagnosis: the demo's Mask R-CNN / UperNet on given backbones, 2 at a time.
args: name=backbone_or_random=seed[=task]"""
import sys, subprocess, os, json, os.path as osp, time
sys.path.insert(0, 'tools')
import transfer_demo as td
# written by tools/run_demo.sh transfer (seed 0)
mosaics = os.environ.get('MOSAICS', 'work_dirs/conmim_demo_transfer/mosaics')
out = 'work_dirs/detexp'
jobs = [(a.split('=') + ['det'])[:4] for a in sys.argv[1:]]
def start(name, bb, seed, task):
    opts = td.run_options(task, mosaics, None, int(seed))
    work = osp.join(out, name)
    init = 'random' if bb == 'random' else 'pretrained'
    cmd = td.train_command(task, init, work, opts, None if bb == 'random' else bb)
    log = open(work + '.log', 'w')
    return subprocess.Popen(cmd, cwd=os.getcwd(), stdout=log, stderr=subprocess.STDOUT, env=td.tool_env(1))
pending = list(jobs); running = []
t0 = time.time()
while pending or running:
    while pending and len(running) < 2:
        j = pending.pop(0); running.append((j, start(*j)))
    time.sleep(5)
    for r in list(running):
        if r[1].poll() is not None:
            running.remove(r)
            try:
                res = td.run_result(osp.join(out, r[0][0]), r[0][3])
                res = {k: v for k, v in res.items() if k not in ('checkpoint', 'work_dir')}
            except BaseException as e:
                res = repr(e)
            print(r[0], r[1].returncode, res, f'{time.time()-t0:.0f}s', flush=True)
