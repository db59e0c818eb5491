"""Calibration and evaluation of torch networks: layer statistics for the re-fit, batch-norm
re-estimation, predictions.

A layer's statistics (`mapopt.refit.LayerStats`) pair the mapped network's input rows of that
layer with the dense network's output at the same positions. Rows are im2col columns (a conv's
``C*R*S`` inputs at one output position, in the order of `mapopt.layer.unroll`), a few positions
per image drawn with a seed (`positions`), which bounds memory and time whatever the image size.
The dense outputs of every layer are taken in one pass (`dense_targets`); each layer's inputs
then need a forward pass of the mapped network only up to that layer (`layer_stats`).

torch is imported when a function runs, never by the solvers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import MapoptError
from ..refit import GroupedStats, LayerStats
from .cifar import require_torch

#: images per forward pass
BATCH = 256
#: im2col rows sampled per image and layer (all positions when a layer has fewer)
POSITIONS = 16


class _Reached(Exception):
    """Raised by a hook to stop a forward pass once the layer it watches has its input."""


def layers_of(model) -> dict:
    """Conv and linear modules by name (the names `mapopt.models.read_weights` gives a torch file's layers)."""
    torch = require_torch()
    return {name: m for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}


def positions(n_images: int, n_positions: int, seed: int, per_image: int = POSITIONS) -> np.ndarray:
    """Seeded output positions per image (``N x P``, distinct within an image), the same for every network."""
    if n_positions <= per_image:
        return np.broadcast_to(np.arange(n_positions), (n_images, n_positions)).copy()
    return np.argsort(np.random.default_rng(seed).random((n_images, n_positions)), axis=1)[:, :per_image]


class _RowTap:
    """A forward pre-hook collecting a layer's im2col input rows at the sampled positions, batch by batch."""

    def __init__(self, n_images: int, seed: int, picks: np.ndarray | None, sink: Callable, stop: bool):
        self.n_images, self.seed, self.picks, self.sink, self.stop = n_images, seed, picks, sink, stop
        self.start = 0

    def __call__(self, module, args) -> None:
        torch = require_torch()
        x = args[0]
        if isinstance(module, torch.nn.Linear):
            rows = x.reshape(-1, x.shape[-1])
        else:
            if not isinstance(module.padding, tuple) or module.padding_mode != "zeros":
                raise MapoptError(f"re-fit needs explicit zero padding, got padding={module.padding!r} "
                                  f"({module.padding_mode})")
            if self.picks is None:
                self.picks = positions(self.n_images, int(np.prod(_output_size(module, x))), self.seed)
            rows = _patches(module, x, torch.as_tensor(self.picks[self.start:self.start + len(x)], dtype=torch.long))
        self.start += len(x)
        self.sink(rows.float())
        if self.stop:
            raise _Reached


def _output_size(module, x) -> tuple[int, int]:
    """Output height and width of conv `module` on input `x`."""
    return tuple((size + 2 * p - d * (k - 1) - 1) // st + 1 for size, k, st, p, d in
                 zip(x.shape[-2:], module.kernel_size, module.stride, module.padding, module.dilation))


def _patches(module, x, picks):
    """im2col rows of conv `module` (explicit zero padding) at output positions `picks` (``N x P``, row-major):
    ``N*P x C*R*S``, gathered directly (unfolding every position first costs far more when only a few are kept)."""
    torch = require_torch()
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = module.kernel_size, module.stride, module.padding, module.dilation
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    width = _output_size(module, x)[1]
    oh, ow = picks // width, picks % width
    rows = (oh * sh)[..., None, None] + (torch.arange(kh) * dh)[:, None]        # N x P x R x 1
    cols = (ow * sw)[..., None, None] + (torch.arange(kw) * dw)[None, :]        # N x P x 1 x S
    image = torch.arange(len(x))[:, None, None, None]
    patches = padded[image, :, rows, cols]                                       # N x P x R x S x C
    return patches.permute(0, 1, 4, 2, 3).reshape(-1, x.shape[1] * kh * kw)


def _passes(model, images, taps: dict, run=None) -> None:
    """Forward `images` in batches through `run` (default `model`) with `taps` (name of a module of `model` ->
    `_RowTap`) attached."""
    torch = require_torch()
    modules = layers_of(model)
    handles = [modules[name].register_forward_pre_hook(tap) for name, tap in taps.items()]
    try:
        with torch.inference_mode():
            for start in range(0, len(images), BATCH):
                try:
                    (run or model)(images[start:start + BATCH])
                except _Reached:
                    pass
    finally:
        for h in handles:
            h.remove()


def _groups(module) -> int:
    """A conv module's groups; 1 for a linear layer."""
    return getattr(module, "groups", 1)


def _by_group(rows, groups: int):
    """im2col rows (``N x C*R*S``) as ``N x G x C/G*R*S``: each group's own inputs."""
    return rows.reshape(len(rows), groups, -1)


def dense_targets(model, names: list[str], images, seed: int) -> tuple[dict, dict]:
    """Per layer of `model` named in `names`, its output ``X W`` at the sampled positions (a grouped conv's group by
    group), from one pass; and the positions, for `layer_stats` to sample the same rows."""
    torch = require_torch()
    targets: dict = {name: [] for name in names}
    modules = layers_of(model)

    def output(rows, module):
        w = module.weight.detach().float().reshape(module.weight.shape[0], -1)  # outputs x inputs of a group
        g = _groups(module)
        if g == 1:
            return rows @ w.T
        return torch.einsum("ngb,gkb->ngk", _by_group(rows, g), w.reshape(g, -1, w.shape[1])).reshape(len(rows), -1)

    taps = {name: _RowTap(len(images), seed, None,
                          lambda rows, name=name: targets[name].append(output(rows, modules[name])), stop=False)
            for name in names}
    _passes(model, images, taps)
    return {name: torch.cat(t) for name, t in targets.items()}, {name: tap.picks for name, tap in taps.items()}


def layer_stats(model, name: str, images, target, picks: np.ndarray | None, seed: int,
                run=None) -> LayerStats | GroupedStats:
    """`LayerStats` of layer `name` (a grouped conv's: `GroupedStats`, one per group): `model`'s input rows there
    (the pass, through `run` if given, stops at the layer) against the dense `target` at the same positions
    `picks`."""
    torch = require_torch()
    groups = _groups(layers_of(model)[name])
    sums: dict = {"hessian": 0.0, "cross": 0.0, "rows": 0}

    def add(rows) -> None:  # float32 products of one batch, summed over batches in float64 (per group: g x b x .)
        y = target[sums["rows"]:sums["rows"] + len(rows)]
        x = _by_group(rows, groups)
        sums["hessian"] = sums["hessian"] + torch.einsum("ngi,ngj->gij", x, x).double()
        sums["cross"] = sums["cross"] + torch.einsum("ngi,ngk->gik", x, y.reshape(len(y), groups, -1)).double()
        sums["rows"] += len(rows)

    _passes(model, images, {name: _RowTap(len(images), seed, picks, add, stop=True)}, run)
    if not sums["rows"]:
        raise MapoptError("calibration needs at least one image")
    targets = (target.double() ** 2).reshape(len(target), groups, -1).sum(dim=(0, 2)).numpy()
    parts = tuple(LayerStats(h.numpy(), c.numpy(), float(t), sums["rows"])
                  for h, c, t in zip(sums["hessian"], sums["cross"], targets))
    return parts[0] if groups == 1 else GroupedStats(parts)


class Cursor:
    """Where the mapped network's calibration passes start. A network that lists its parts (``segments()``: in
    order, each a callable, the conv and linear layers it holds and those whose batch-normed output joins a skip
    connection, as `mapopt.models.cifar` networks do) keeps the input of the part being re-fitted, so each layer's
    statistics cost a pass through its own part only; any other network is run from the images for every layer.
    Given the `dense` network too, a layer that joins a skip connection is fitted towards the dense sum rather
    than its own dense output (`skip_error`), so each block mends the error its skip carries instead of passing it
    on. Layers must be asked for in network order, each part's layers final before a later part's are asked for."""

    def __init__(self, model, images, dense=None) -> None:
        self.model, self.inputs, self.part = model, images, 0
        self.parts = model.segments() if hasattr(model, "segments") else None
        self.dense = dense.segments() if self.parts is not None and dense is not None else None
        self.dense_inputs = images

    def stats(self, name: str, target, picks: np.ndarray | None, seed: int) -> LayerStats:
        """`layer_stats` of layer `name` on the mapped network as it stands."""
        if self.parts is None:
            return layer_stats(self.model, name, self.inputs, target, picks, seed)
        k = next(i for i, (_, names, _) in enumerate(self.parts) if name in names)
        if k < self.part:
            raise MapoptError(f"layer {name} asked for after a later part of the network")
        while self.part < k:
            self.inputs = _forward(self.parts[self.part][0], self.inputs)
            if self.dense is not None:
                self.dense_inputs = _forward(self.dense[self.part][0], self.dense_inputs)
            self.part += 1
        run, _, joins = self.parts[k]
        if self.dense is not None and name in joins and picks is not None:
            skip, norm = joins[name]
            target = target + skip_error(skip(self.inputs), self.dense[k][2][name][0](self.dense_inputs), norm, picks)
        return layer_stats(self.model, name, self.inputs, target, picks, seed, run=run)


def _forward(run, images):
    """`run` over `images` in batches, without autograd."""
    torch = require_torch()
    with torch.inference_mode():
        return torch.cat([run(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])


def skip_error(mapped, dense, norm, picks: np.ndarray):
    """At the output positions `picks` (``N x P``), how far a layer's output must move, in its own units, for
    ``norm(output) + mapped skip`` to equal the dense network's sum: ``(dense - mapped skip) / (gamma / sigma)``
    per channel of batch norm `norm` (``N*P x C``); channels it scales by under 1e-3 of its largest scale get
    none (their output barely reaches the sum)."""
    torch = require_torch()
    scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach()
    inverse = torch.where(scale.abs() > 1e-3 * scale.abs().max(), 1.0 / scale, torch.zeros_like(scale))
    n, c = mapped.shape[:2]
    index = torch.as_tensor(picks, dtype=torch.long)[:, None, :].expand(n, c, picks.shape[1])
    gap = (dense - mapped).flatten(2).gather(2, index).transpose(1, 2).reshape(-1, c)
    return (gap * inverse).float()


def reestimate_batchnorm(model, images) -> None:
    """Batch-norm running statistics recomputed on `images` (cumulative averages); nothing else changes."""
    torch = require_torch()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        with torch.no_grad():
            for start in range(0, len(images), BATCH):
                model(images[start:start + BATCH])
    finally:
        for m, (momentum, training) in zip(norms, saved):
            m.momentum = momentum
            m.train(training)


def predictions(model, images) -> np.ndarray:
    """Highest-logit class of every image (`model` put in eval mode)."""
    torch = require_torch()
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            out.append(model(images[start:start + BATCH]).argmax(dim=1))
    return torch.cat(out).numpy()
