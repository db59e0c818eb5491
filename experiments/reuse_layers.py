"""Weight-pattern reuse clustering (issue 6) on ResNet-20/32/44 and ResNet-8 at preset('reuse').

    python experiments/reuse_layers.py [--jobs 2] [--parts 1 2 3 4] [--networks resnet20 ...]
        [--extra-networks resnet8 resnet32 resnet44] [--blocks 240]

Per layer: ``Instance(Layer.from_weights(src.layer.weight, name), preset('reuse'))`` (unpruned,
8-bit per layer, 8-row blocks, 8x8 OU). Every record comes from ``mapopt.solve.solve`` (the
mapping is validated and executed; the objective is the simulator's L1 error).

A method written ``name+median`` runs with ``centers=median`` (optimized representatives, k-medians
after the method's leaders).

1. Methods x options on ResNet-20 at theta 0.25 and 0.5; prap-topnorm and auto on the
   ``--extra-networks`` at theta 0.25.
2. Error vs reuse on ResNet-20: theta 0.1..0.7, fasterpam (shift) and prap-topnorm (one, shift).
3. ResNet-20 top-1 on the 1000 CIFAR-10 images with each layer replaced by ``reference * scale``.
4. Per block: fasterpam vs milp (vs auto) on a random sample of ResNet-20 row blocks.
5. Bounds and speed per block (``--bound-time`` seconds for auto per block), one process: every row block of
   every ResNet-20 layer and of the 512-filter layer of ``exact_study`` (random normal weights, 72 x 512,
   8-bit) at theta 0.25: the `kmedoids` package's FasterPAM and mapopt's `fasterpam` on the same square
   matrix (time, objective), the bound the old `fasterpam` reported (`cheap_bound` at its medians), the new
   one, the Lagrangian method's, auto's; table ``bounds.md``.

JSON to ``results/reuse/``, markdown tables to ``experiments/results/reuse/``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapopt.bench import resume_records  # noqa: E402
from mapopt.engines import pmedian  # noqa: E402
from mapopt.hardware import preset  # noqa: E402
from mapopt.instance import Instance, instance_files, read_instance  # noqa: E402
from mapopt.layer import Layer  # noqa: E402
from mapopt.problems.reuse_clustering.methods import _candidates, _start  # noqa: E402
from mapopt.problems.reuse_clustering.problem import SCALES, distances, row_blocks  # noqa: E402
from mapopt.solve import solve  # noqa: E402

OUT_JSON = ROOT / "results" / "reuse"
OUT_MD = ROOT / "experiments" / "results" / "reuse"
MODEL = ROOT.parent / "shared" / "weights" / "resnet_cifar10_akamaster" / "resnet20-12fca82f.th"

# (method, scales, allocation, prune); identical ignores theta and scales
CONFIGS = [("identical", "one", "block", 0.0),
           ("prap-topnorm", "one", "block", 0.0), ("prap-topnorm", "shift", "block", 0.0),
           ("prap-threshold", "one", "block", 0.0), ("prap-threshold", "shift", "block", 0.0),
           ("greedy", "one", "block", 0.0), ("greedy", "shift", "block", 0.0),
           ("fasterpam", "one", "block", 0.0), ("fasterpam", "shift", "block", 0.0),
           ("fasterpam", "one", "global", 0.0), ("fasterpam", "shift", "global", 0.0),
           ("auto", "one", "block", 0.0), ("auto", "shift", "block", 0.0),
           ("auto", "one", "global", 0.0), ("auto", "shift", "global", 0.0),
           ("auto", "shift", "block", 0.1), ("auto", "shift", "global", 0.1),
           ("prap-topnorm+median", "shift", "block", 0.0), ("fasterpam+median", "shift", "block", 0.0),
           ("auto+median", "shift", "global", 0.0)]
ACC_CONFIGS = {("prap-topnorm", "one", "block", 0.0), ("prap-topnorm", "shift", "block", 0.0),
               ("auto", "one", "block", 0.0), ("auto", "shift", "block", 0.0),
               ("auto", "shift", "global", 0.1), ("auto+median", "shift", "global", 0.0)}
CURVE_THETAS = (0.1, 0.2, 0.3, 0.5, 0.7)
CURVE_CONFIGS = [("fasterpam", "shift", "block", 0.0), ("fasterpam+median", "shift", "block", 0.0),
                 ("prap-topnorm", "one", "block", 0.0),
                 ("prap-topnorm", "shift", "block", 0.0)]


def load_net(net: str) -> list[Instance]:
    out = []
    for f in instance_files(ROOT / "instances" / net):
        src = read_instance(f)
        out.append(Instance(Layer.from_weights(src.layer.weight, src.name), preset("reuse")))
    return out


def run_one(part: str, net: str, li: int, inst: Instance, theta: float, cfg, keep_ref: bool):
    method, scales, allocation, prune = cfg
    method, _, centers = method.partition("+")  # "name+median": optimized representatives
    params = dict(theta=theta, scales=scales, allocation=allocation, centers=centers or "medoid")
    if prune:
        params["prune"] = prune
    r = solve(inst, "reuse-clustering", method, **params)
    rep, c = r.report, r.report.cost
    exact_bound = (method in ("greedy", "fasterpam", "milp", "cpsat", "auto") and allocation == "block" and not prune
                   and not centers)
    rec = dict(part=part, net=net, layer=inst.layer.name, li=li, theta=theta, method=cfg[0], scales=scales,
               allocation=allocation, prune=prune, valid=bool(rep.valid),
               violations=[str(v) for v in rep.violations][:3], l1=int(rep.error["l1"]),
               relative=float(rep.error["relative"]), weight_l1=int(np.abs(inst.layer.matrix).sum()),
               l2sq=int(rep.error["l2sq"]), weight_l2sq=int((inst.layer.matrix.astype(np.int64) ** 2).sum()),
               objective=int(r.objective), bound=float(r.bound) if exact_bound else None,
               leaders=int(r.stats["leaders"]), sub_vectors=int(r.stats["sub_vectors"]),
               pruned=int(r.stats["pruned"]), columns=int(sum(p.n_cols for p in r.mapping.placements)),
               ou_activations=int(c.ou_activations), crossbars=int(c.crossbars), wall=float(r.wall_time))
    ref = None
    if keep_ref:
        scale = np.broadcast_to(inst.layer.scale, (inst.layer.n_outputs,))
        ref = (r.mapping.reference * scale[None, :]).astype(np.float32)
    return rec, ref


def block_task(li: int, inst: Instance, idx: list[int], theta: float, scales: str):
    blocks = row_blocks(inst.layer.matrix, inst.spec.ou_rows)
    out = []
    for bi in idx:
        b = blocks[bi]
        D, _ = distances(b.vectors, SCALES[scales])
        cand = _candidates(b)
        p = min(math.ceil(theta * len(b.vectors)), len(cand))
        if p == 0:
            continue
        rec = dict(layer=inst.layer.name, block=bi, theta=theta, scales=scales, m=len(b.vectors),
                   candidates=len(cand), p=p)
        for how in ("fasterpam", "milp", "auto"):
            t = time.perf_counter()
            res = pmedian.solve(D[:, cand], p, how, None, 0)
            rec[how] = dict(obj=float(res.objective), bound=float(res.bound), time=time.perf_counter() - t)
        out.append(rec)
    return out


def aggregate(recs):
    groups = {}
    for r in recs:
        key = (r["net"], r["theta"], r["method"], r["scales"], r["allocation"], r["prune"])
        groups.setdefault(key, []).append(r)
    rows = []
    for key, rs in groups.items():
        l1, w = sum(r["l1"] for r in rs), sum(r["weight_l1"] for r in rs)
        bounds = [r["bound"] for r in rs]
        bound = sum(bounds) if all(b is not None for b in bounds) else None
        rows.append(dict(net=key[0], theta=key[1], method=key[2], scales=key[3], allocation=key[4], prune=key[5],
                         layers=len(rs), valid=all(r["valid"] for r in rs), l1=l1, relative=l1 / w,
                         relative_fro=math.sqrt(sum(r["l2sq"] for r in rs) / sum(r["weight_l2sq"] for r in rs)),
                         mean_layer_relative=float(np.mean([r["relative"] for r in rs])),
                         leaders=sum(r["leaders"] for r in rs), sub_vectors=sum(r["sub_vectors"] for r in rs),
                         columns=sum(r["columns"] for r in rs), ou_activations=sum(r["ou_activations"] for r in rs),
                         crossbars=sum(r["crossbars"] for r in rs), wall=sum(r["wall"] for r in rs), bound=bound,
                         gap=(l1 - bound) / l1 if bound is not None and l1 else None))
        rows[-1]["reuse"] = 1 - rows[-1]["leaders"] / rows[-1]["sub_vectors"]
    return rows


def md_table(rows, title):
    lines = [f"### {title}", "",
             "| net | theta | method | scales | alloc | prune | L1 error | rel. L1 | rel. Frobenius | leaders | reuse | columns "
             "| OU act. | crossbars | wall s | gap to bound | valid |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gap = f"{100 * r['gap']:.2f}%" if r["gap"] is not None else "-"
        lines.append(f"| {r['net']} | {r['theta']} | {r['method']} | {r['scales']} | {r['allocation']} | {r['prune']} "
                     f"| {r['l1']} | {r['relative']:.4f} | {r['relative_fro']:.4f} | {r['leaders']} | {r['reuse']:.3f} | {r['columns']} "
                     f"| {r['ou_activations']} | {r['crossbars']} | {r['wall']:.1f} | {gap} | {r['valid']} |")
    return "\n".join(lines) + "\n"


def find(rows, net, theta, method, scales="one", allocation="block", prune=0.0):
    for r in rows:
        if (r["net"], r["theta"], r["method"], r["scales"], r["allocation"], r["prune"]) == \
                (net, theta, method, scales, allocation, prune):
            return r
    return None


def record_key(part, net, layer, theta, cfg) -> tuple:
    return (part, net, layer, float(theta), *cfg[:3], float(cfg[3]))


def run_tasks(tasks, jobs, path: Path):
    """Run the solves not yet in the JSON Lines file `path` (appending each as it finishes, so an
    interrupted run resumes); tasks that must return a reference for the accuracy part always run."""
    done = {}
    for r in resume_records(path, keyed=False) if path.exists() else []:
        done[record_key(r["part"], r["net"], r["layer"], r["theta"],
                        (r["method"], r["scales"], r["allocation"], r["prune"]))] = r
    todo = [t for t in tasks if t[6] or record_key(t[0], t[1], t[3].layer.name, t[4], t[5]) not in done]
    recs, refs = {}, {}
    keys = {record_key(t[0], t[1], t[3].layer.name, t[4], t[5]) for t in tasks}
    recs.update({k: r for k, r in done.items() if k in keys})
    print(f"{len(tasks) - len(todo)} of {len(tasks)} solves already in {path.name}", flush=True)
    gen = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(run_one)(*t) for t in todo)
    with open(path, "a") as sink:
        for i, (rec, ref) in enumerate(gen, 1):
            key = record_key(rec["part"], rec["net"], rec["layer"], rec["theta"],
                             (rec["method"], rec["scales"], rec["allocation"], rec["prune"]))
            if key not in done:
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
            recs[key] = rec
            if ref is not None:
                refs[(rec["theta"], rec["method"], rec["scales"], rec["allocation"], rec["prune"], rec["layer"])] = ref
            if i % 20 == 0 or i == len(todo):
                print(f"[{i}/{len(todo)}] {rec['net']} {rec['layer']} {rec['method']} {rec['wall']:.1f}s", flush=True)
    return list(recs.values()), refs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3, 4])
    ap.add_argument("--networks", nargs="+", default=["resnet20"])
    ap.add_argument("--extra-networks", nargs="+", default=[])
    ap.add_argument("--thetas", nargs="+", type=float, default=[0.25, 0.5])
    ap.add_argument("--blocks", type=int, default=240)
    ap.add_argument("--max-layers", type=int, default=None, help="smoke tests only")
    ap.add_argument("--bound-time", type=float, default=10.0, help="part 5: auto's time limit per block (s)")
    args = ap.parse_args()
    OUT_JSON.mkdir(parents=True, exist_ok=True)
    OUT_MD.mkdir(parents=True, exist_ok=True)
    nets = {n: load_net(n)[:args.max_layers] for n in dict.fromkeys(args.networks + args.extra_networks)}
    r20 = nets.get("resnet20")

    def order(tasks):  # heavy first for load balance
        w = {"auto": 4, "fasterpam": 2, "greedy": 1}
        return sorted(tasks, key=lambda t: -(t[3].layer.matrix.size * w.get(t[5][0], 0.3)
                                             * (5 if t[5][2] == "global" else 1) * (3 if t[5][3] else 1)))

    refs = {}
    if 1 in args.parts or 3 in args.parts:
        tasks = []
        for net in args.networks:
            for theta in args.thetas:
                for cfg in CONFIGS:
                    if cfg[0] == "identical" and theta != args.thetas[0]:
                        continue
                    for li, inst in enumerate(nets[net]):
                        tasks.append(("layers", net, li, inst, theta, cfg, net == "resnet20" and cfg in ACC_CONFIGS))
        for net in args.extra_networks:
            for cfg in (("prap-topnorm", "one", "block", 0.0), ("auto", "one", "block", 0.0)):
                for li, inst in enumerate(nets[net]):
                    tasks.append(("layers", net, li, inst, 0.25, cfg, False))
        t0 = time.time()
        recs, refs = run_tasks(order(tasks), args.jobs, OUT_JSON / "layers.jsonl")
        print(f"part 1: {len(recs)} solves in {time.time() - t0:.0f} s", flush=True)
        rows = aggregate(recs)
        rows.sort(key=lambda r: (r["net"], r["theta"], [c[:4] for c in CONFIGS].index(
            (r["method"], r["scales"], r["allocation"], r["prune"]))))
        (OUT_JSON / "layers.json").write_text(json.dumps(rows, indent=1))
        bad = [r for r in recs if not r["valid"]]
        md = md_table(rows, "Totals over all layers (L1 error of the 8-bit integer weights; rel. L1 = L1 / sum|W|; "
                     "rel. Frobenius = ||W'-W||_F / ||W||_F over the network, the simulator's report.error['relative'] per layer)")
        if bad:
            md += f"\n**{len(bad)} invalid mappings**: " + "; ".join(f"{b['layer']} {b['method']} {b['violations']}"
                                                                   for b in bad[:5]) + "\n"
        comp = ["", "### Key comparisons (L1 error reduction vs PRAP-PIM top-norm)", "",
                "| net | theta | method | vs | error | reference error | reduction | leaders (method / ref) |",
                "|---|---|---|---|---|---|---|---|"]
        for net in nets:
            for theta in args.thetas:
                pairs = [(("greedy", "one", "block", 0.0), ("prap-topnorm", "one", "block", 0.0)),
                         (("fasterpam", "one", "block", 0.0), ("prap-topnorm", "one", "block", 0.0)),
                         (("auto", "one", "block", 0.0), ("prap-topnorm", "one", "block", 0.0)),
                         (("auto", "one", "block", 0.0), ("prap-threshold", "one", "block", 0.0)),
                         (("auto", "shift", "block", 0.0), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto", "shift", "global", 0.0), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto", "shift", "block", 0.1), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto", "shift", "global", 0.1), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto", "shift", "global", 0.1), ("prap-topnorm", "one", "block", 0.0)),
                         (("prap-topnorm+median", "shift", "block", 0.0), ("prap-topnorm", "shift", "block", 0.0)),
                         (("fasterpam+median", "shift", "block", 0.0), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto+median", "shift", "global", 0.0), ("prap-topnorm", "shift", "block", 0.0)),
                         (("auto+median", "shift", "global", 0.0), ("prap-topnorm+median", "shift", "block", 0.0))]
                for a, b in pairs:
                    ra, rb = find(rows, net, theta, *a), find(rows, net, theta, *b)
                    if ra and rb:
                        comp.append(f"| {net} | {theta} | {'/'.join(map(str, a))} | {'/'.join(map(str, b))} "
                                    f"| {ra['l1']} | {rb['l1']} | {100 * (1 - ra['l1'] / rb['l1']):.1f}% "
                                    f"| {ra['leaders']} / {rb['leaders']} |")
        (OUT_MD / "layers.md").write_text(md + "\n".join(comp) + "\n")
        print(md + "\n".join(comp), flush=True)

    if 2 in args.parts and r20 is not None:
        tasks = [("curve", "resnet20", li, inst, th, cfg, False)
                 for th in CURVE_THETAS for cfg in CURVE_CONFIGS for li, inst in enumerate(r20)]
        t0 = time.time()
        recs, _ = run_tasks(order(tasks), args.jobs, OUT_JSON / "curve.jsonl")
        print(f"part 2: {len(recs)} solves in {time.time() - t0:.0f} s", flush=True)
        rows = aggregate(recs)
        rows.sort(key=lambda r: (r["method"], r["scales"], r["theta"]))
        (OUT_JSON / "curve.json").write_text(json.dumps(rows, indent=1))
        (OUT_MD / "curve.md").write_text(md_table(rows, "ResNet-20 error vs reuse"))
        print(md_table(rows, "ResNet-20 error vs reuse"), flush=True)
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(5.5, 4))
            for m, s in {(r["method"], r["scales"]) for r in rows}:
                pts = sorted((r["reuse"], r["relative_fro"]) for r in rows if (r["method"], r["scales"]) == (m, s))
                ax.plot(*zip(*pts), marker="o", label=f"{m} ({s})")
            ax.set_xlabel("reuse (1 - leaders / sub-vectors)")
            ax.set_ylabel("relative error ||W'-W||_F / ||W||_F")
            ax.set_title("ResNet-20, preset reuse (8-row blocks)")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(OUT_MD / "error_vs_reuse.png", dpi=120)
        except ImportError as e:
            print("no plot:", e)

    if 3 in args.parts and r20 is not None and refs and MODEL.is_file():
        from mapopt.layer import matrix_to_weight
        from mapopt.models.cifar import load_resnet, load_samples, top1, with_weights
        model, (images, labels) = load_resnet(MODEL), load_samples()
        base = top1(model, images, labels)
        shapes = {inst.layer.name: tuple(inst.layer.weight.shape) for inst in r20}
        acc = [{"setting": "float baseline", "top1": base, "relative": 1.0}]
        for theta in args.thetas:
            for cfg in CONFIGS:
                if cfg not in ACC_CONFIGS:
                    continue
                w = {name: matrix_to_weight(refs[(theta, *cfg, name)], shapes[name]) for name in shapes
                     if (theta, *cfg, name) in refs}
                if len(w) != len(shapes):
                    continue
                a = top1(with_weights(model, w), images, labels)
                acc.append({"setting": f"theta {theta}, {'/'.join(map(str, cfg))}", "top1": a, "relative": a / base})
        (OUT_JSON / "accuracy.json").write_text(json.dumps(acc, indent=1))
        lines = ["### ResNet-20 top-1, 1000 CIFAR-10 images, every layer = reference * scale (no fine-tuning)", "",
                 "| setting (theta, method/scales/allocation/prune) | top-1 | relative |", "|---|---|---|"]
        lines += [f"| {a['setting']} | {a['top1']:.3f} | {a['relative']:.3f} |" for a in acc]
        (OUT_MD / "accuracy.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)

    if 4 in args.parts and r20 is not None:
        rng = np.random.default_rng(0)
        allb = [(li, bi) for li, inst in enumerate(r20)
                for bi in range(len(row_blocks(inst.layer.matrix, inst.spec.ou_rows)))]
        pick = sorted(map(tuple, np.array(allb)[rng.choice(len(allb), min(args.blocks, len(allb)), replace=False)]))
        by_layer = {}
        for li, bi in pick:
            by_layer.setdefault(int(li), []).append(int(bi))
        t0 = time.time()
        out = Parallel(n_jobs=args.jobs)(delayed(block_task)(li, r20[li], idx, th, sc)
                                         for th in args.thetas for sc in ("one", "shift")
                                         for li, idx in by_layer.items())
        recs = [r for chunk in out for r in chunk]
        print(f"part 4: {len(recs)} block solves in {time.time() - t0:.0f} s of {len(allb)} blocks", flush=True)
        (OUT_JSON / "blocks.json").write_text(json.dumps(recs, indent=1))
        lines = [f"### Per block: FasterPAM vs exact MILP ({len(pick)} random ResNet-20 row blocks of {len(allb)})", "",
                 "| theta | scales | blocks | MILP proven | FasterPAM = opt | FasterPAM max gap | FasterPAM total gap "
                 "| auto = opt | FasterPAM s (sum / max) | MILP s (sum / max) | auto s (sum / max) |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for th in args.thetas:
            for sc in ("one", "shift"):
                rs = [r for r in recs if r["theta"] == th and r["scales"] == sc]
                if not rs:
                    continue
                opt = np.array([r["milp"]["obj"] for r in rs])
                fp = np.array([r["fasterpam"]["obj"] for r in rs])
                au = np.array([r["auto"]["obj"] for r in rs])
                proven = sum(r["milp"]["bound"] >= r["milp"]["obj"] - 1e-9 for r in rs)
                gaps = (fp - opt) / np.maximum(opt, 1)
                tm = {h: np.array([r[h]["time"] for r in rs]) for h in ("fasterpam", "milp", "auto")}
                lines.append(f"| {th} | {sc} | {len(rs)} | {proven} | {int((fp <= opt + 1e-9).sum())} "
                             f"| {100 * gaps.max():.2f}% | {100 * (fp.sum() / opt.sum() - 1):.3f}% "
                             f"| {int((au <= opt + 1e-9).sum())} | "
                             + " | ".join(f"{tm[h].sum():.2f} / {tm[h].max():.3f}" for h in ("fasterpam", "milp", "auto"))
                             + " |")
        (OUT_MD / "blocks.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)

    if 5 in args.parts:
        bounds_part(r20 or load_net("resnet20")[:args.max_layers], args.bound_time)


def timed(fn, repeat: int = 3):
    """Best wall time of `repeat` calls (the machine is shared) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bound_block(block, theta: float, scales: str, auto_time: float, seed: int = 0) -> dict:
    """One row block: kmedoids vs mapopt FasterPAM on the square matrix, and every bound."""
    import kmedoids
    from mapopt.engines.pmedian.bounds import cheap_bound
    D, _ = distances(block.vectors, SCALES[scales])
    cand = _candidates(block)
    p = min(math.ceil(theta * len(D)), len(cand))
    rec = {"n": len(D), "cand": len(cand), "p": p}
    if p < 2 or p >= len(D):
        return rec | {"skip": True}
    tk, rk = timed(lambda: kmedoids.fasterpam(D, p, random_state=seed, n_cpu=1))
    tm, rm = timed(lambda: pmedian.fasterpam(D, p, seed=seed))
    tg, rg = timed(lambda: pmedian.fasterpam(D, p, init=_start(D), seed=seed))
    old = cheap_bound(D, p, None, rm.centers)
    Dc = D[:, cand]
    t = time.perf_counter()
    lag = pmedian.solve(Dc, p, "lagrangian", time_limit=auto_time, seed=seed)
    t_lag = time.perf_counter() - t
    t = time.perf_counter()
    auto = pmedian.solve(Dc, p, "auto", time_limit=auto_time, seed=seed)
    t_auto = time.perf_counter() - t
    return rec | {"km_time": tk, "km_obj": float(D[:, rk.medoids].min(axis=1).sum()), "fp_time": tm,
                  "fp_obj": rm.objective, "fpg_time": tg, "fpg_obj": rg.objective, "old_bound": float(old),
                  "fp_bound": rm.bound, "lag_bound": lag.bound, "lag_obj": lag.objective, "lag_time": t_lag,
                  "auto_obj": auto.objective, "auto_bound": auto.bound, "auto_time": t_auto,
                  "auto_status": auto.status.value}


def bounds_part(r20: list[Instance], auto_time: float, theta: float = 0.25) -> None:
    """Part 5: per block bounds and FasterPAM speed; ``bounds.md``."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from exact_study import instance as study_instance  # the 512-filter layer of the study
    layers = [("resnet20", inst.layer.name, inst, "one") for inst in r20]
    big = study_instance("reuse-clustering", "random", 512, 0)
    layers += [("random 512", big.layer.name, big, sc) for sc in ("one", "shift")]
    t0, recs = time.time(), []
    for net, name, inst, sc in layers:
        for bi, b in enumerate(row_blocks(inst.layer.matrix, inst.spec.ou_rows)):
            recs.append({"net": net, "layer": name, "scales": sc, "block": bi} | bound_block(b, theta, sc, auto_time))
        print(f"part 5: {net} {name} {sc} done at {time.time() - t0:.0f} s", flush=True)
    (OUT_JSON / "bounds.json").write_text(json.dumps(recs, indent=1))

    def pct(obj, bound):
        return 100.0 * (obj - bound) / obj if obj else 0.0

    lines = [f"### Reuse bounds per layer (theta {theta}, auto {auto_time:g} s per block; every row block)", "",
             "Objective = the best of all methods per block (summed). Gaps are to that objective: `old heur.` = the "
             "bound `fasterpam` reported before (`cheap_bound` at its medians), `new heur.` = `center_bound` (what "
             "`fasterpam` reports now), `lagrangian` = the projected subgradient method, `auto` = auto's proven "
             "bound; `max block` = the largest per-block gap of the best bound. Times are sums over blocks (best of 3) "
             "on the same square matrix: `kmedoids` = `kmedoids.fasterpam(D, p, random_state=0, n_cpu=1)`, "
             "`mapopt` = `pmedian.fasterpam(D, p)` (package core from a random start, plus its bound), `mapopt "
             "reuse` = the start the reuse method uses (greedy up to 64 outputs, else random). Objective ratios are FasterPAM's sum over "
             "kmedoids' sum.", "",
             "| net | layer | scales | blocks | n x p | objective | old heur. % | new heur. % | lagrangian % | auto % "
             "| max block % | proven | kmedoids s | mapopt s | mapopt reuse s | mapopt / kmedoids obj | reuse / kmedoids obj |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = {}
    for net, name, _, sc in layers:
        rs = [r for r in recs if r["layer"] == name and r["scales"] == sc and r["net"] == net and not r.get("skip")]
        if not rs:
            continue
        best = [min(r["auto_obj"], r["lag_obj"], r["fp_obj"], r["fpg_obj"], r["km_obj"]) for r in rs]
        bb = [max(r["old_bound"], r["fp_bound"], r["lag_bound"], r["auto_bound"]) for r in rs]
        obj = sum(best)
        s = {k: sum(r[k] for r in rs) for k in ("old_bound", "fp_bound", "lag_bound", "auto_bound", "km_time",
                                                 "fp_time", "fpg_time", "km_obj", "fp_obj", "fpg_obj")}
        worst = max(pct(o, b) for o, b in zip(best, bb))
        proven = sum(b >= o - 1e-9 for o, b in zip(best, bb))
        sizes = sorted({f"{r['n']} x {r['p']}" for r in rs})
        lines.append(f"| {net} | {name} | {sc} | {len(rs)} | {', '.join(sizes)} | {obj:.0f} | {pct(obj, s['old_bound']):.2f} "
                     f"| {pct(obj, s['fp_bound']):.2f} | {pct(obj, s['lag_bound']):.3f} | {pct(obj, s['auto_bound']):.3f} "
                     f"| {worst:.3f} | {proven}/{len(rs)} | {s['km_time']:.4f} | {s['fp_time']:.4f} | {s['fpg_time']:.4f} "
                     f"| {s['fp_obj'] / s['km_obj']:.4f} | {s['fpg_obj'] / s['km_obj']:.4f} |")
        key = (net, sc)
        tot.setdefault(key, []).extend(rs)
    lines += ["", "| net | scales | blocks | kmedoids s | mapopt s | mapopt / kmedoids time | mapopt reuse s "
              "| max block gap of the best bound % | max block gap, new heur. % | max block gap, old heur. % |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (net, sc), rs in tot.items():
        best = [min(r["auto_obj"], r["lag_obj"], r["fp_obj"], r["fpg_obj"], r["km_obj"]) for r in rs]
        bb = [max(r["old_bound"], r["fp_bound"], r["lag_bound"], r["auto_bound"]) for r in rs]
        km, fp, fpg = (sum(r[k] for r in rs) for k in ("km_time", "fp_time", "fpg_time"))
        lines.append(f"| {net} | {sc} | {len(rs)} | {km:.3f} | {fp:.3f} | {fp / km:.2f} | {fpg:.3f} "
                     f"| {max(pct(o, b) for o, b in zip(best, bb)):.3f} "
                     f"| {max(pct(o, r['fp_bound']) for o, r in zip(best, rs)):.2f} "
                     f"| {max(pct(o, r['old_bound']) for o, r in zip(best, rs)):.2f} |")
    (OUT_MD / "bounds.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
