"""Source of assignments/a6_efficient_dl/efficient_dl.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 6, "Efficient deep learning". Lecture 001's second half: number
representation, why memory traffic is energy, pruning, trained quantization (weight
sharing), Huffman coding, fixed-point quantization and mixed-precision training.
The library versions are in gradkit.compress (withheld while grading, see
assignment.yaml).
"""

# %% [markdown]
# # Assignment 6: Efficient deep learning
#
# A trained network is a big table of 32-bit floats, and running it means reading that
# table from memory again and again. This assignment shrinks the table, following the
# *Deep Compression* pipeline of Han, Mao and Dally (2016): **prune** the weights that
# matter least and retrain the rest, **share** the survivors' values through a small
# codebook found by k-means, and **Huffman-code** what is left. On the side: **int8
# fixed-point quantization**, as inference hardware uses it, and **mixed-precision
# training** with loss scaling. You measure what each step costs in accuracy and what
# it saves in bits, on the digits MLP of Assignment 3 (written in torch this time).
#
# From now on the models are `torch` modules. You write NumPy and torch code yourself;
# do not import `gradkit.compress` (the grader removes it while grading).
#
# **How this notebook works** (as before): fill in the cells marked `# YOUR CODE HERE`,
# run the visible tests under each, and restart-and-run-all then *Validate* before you
# submit. Hidden tests run your functions on fresh inputs; the grader compares the
# results with the reference solution's.
#
# **Points** (one line per graded test cell):
#
# {{points_table}}

# %% [locked id=setup]
# Set-up: run this cell first. It imports what the notebook uses, defines the visible
# tests' helpers and trains the dense model that the rest of the notebook compresses.
# {{include _helpers.py}}
import copy
import time

import torch

from gradkit.data import load_digits

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# The models here are tiny: one CPU thread runs them faster than several (no threads to wake
# for a 32 x 64 matrix product), and a grading kernel gets one CPU.
torch.set_num_threads(1)
plt.rcParams["figure.figsize"] = (6.4, 4.0)

X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
X_train_t = torch.as_tensor(X_train, device=DEVICE)
y_train_t = torch.as_tensor(y_train, dtype=torch.int64, device=DEVICE)
X_test_t = torch.as_tensor(X_test, device=DEVICE)
y_test_t = torch.as_tensor(y_test, dtype=torch.int64, device=DEVICE)


def make_mlp(seed, sizes=(64, 128, 10)):
    """Linear -> ReLU -> Linear, the digits MLP of Assignment 3, initialised from seed."""
    torch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers).to(DEVICE)


def minibatches(n, batch_size, seed):
    """Index tensors of one epoch's shuffled mini-batches (the same for the same seed)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train_epochs(model, X, y, epochs, lr, seed=0):
    """Plain dense training: SGD with momentum 0.9 on the cross-entropy, batch 32."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for epoch in range(epochs):
        for batch in minibatches(len(X), 32, seed + epoch):
            loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@torch.no_grad()
def accuracy(model, X=X_test_t, y=y_test_t):
    """Fraction of rows whose largest logit is the true class."""
    return float((model(X).argmax(dim=1) == y).float().mean())


def weight_matrices(model):
    """{name: parameter} of the weight matrices (the tensors we compress; biases stay float32)."""
    return {name: p for name, p in model.named_parameters() if p.dim() == 2}


start = time.perf_counter()
dense_model = train_epochs(make_mlp(0), X_train_t, y_train_t, epochs=15, lr=0.05)
dense_accuracy = accuracy(dense_model)
print(f"dense MLP 64-128-10: test accuracy {dense_accuracy:.1%}, trained in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## Part 0. Why compress: bits are energy
#
# A number in a computer is a fixed number of bits: a float32 has 1 sign bit, 8
# exponent bits and 23 fraction bits; float16 has 5 and 10; bfloat16 keeps float32's 8
# exponent bits and only 7 fraction bits; int8 is a plain 8-bit integer. Fewer bits
# mean smaller, cheaper arithmetic, but above all **less data to move**. Measured in a
# 45 nm process (Horowitz, 2014), one 32-bit read from off-chip DRAM costs about
# 640 pJ, a 32-bit read from a small on-chip SRAM about 5 pJ, a float32 multiply
# 3.7 pJ and an int8 add 0.03 pJ. Reading a weight from DRAM costs two orders of
# magnitude more than using it. A model that does not fit on chip pays the DRAM price
# for every weight at every inference, so
#
# $$\text{energy per inference} \approx \text{bytes of weights moved} \times \text{energy per byte}.$$
#
# Every step below is judged by the bits it saves against the accuracy it costs.

# %% [markdown]
# ## Part 1. Magnitude pruning
#
# Most weights of a trained network are close to zero. **Pruning** removes the
# smallest ones: a 0/1 **mask** $m$ of the weight's shape records which survive and
# the network computes with $W \odot m$. "Smallest" means smallest **magnitude**
# $|w|$: a weight of $-3$ matters as much as one of $+3$.
#
# Write `magnitude_mask(weight, amount)`: for a torch tensor `weight` and a fraction
# `amount` in $[0, 1]$, return a mask of the same shape and dtype (1.0 keep, 0.0
# prune) that prunes exactly $k = \mathrm{round}(\text{amount}\cdot n)$ entries of
# smallest $|w|$ ($n$ = number of entries; Python's `round`). `torch.topk(...,
# largest=False)` or `torch.argsort` find them. Ties do not occur in the tests.
#
# Then `global_magnitude_masks(weights, amount)`: for a dict `{name: tensor}`, prune
# the fraction `amount` of *all* the entries together, with one threshold across
# layers (a layer with many small weights loses more than `amount` of its own).
# Return `{name: mask}`.

# %% [solution id=pruning_masks]
def magnitude_mask(weight, amount):
    """0/1 mask pruning the round(amount * n) entries of smallest |weight|."""
    ### BEGIN SOLUTION
    flat = weight.detach().reshape(-1)
    n_prune = int(round(amount * flat.numel()))
    mask = torch.ones_like(flat)
    if n_prune > 0:
        mask[torch.topk(flat.abs(), k=n_prune, largest=False).indices] = 0.0
    return mask.reshape(weight.shape)
    ### END SOLUTION


def global_magnitude_masks(weights, amount):
    """{name: mask} pruning the fraction amount of all entries of all tensors together."""
    ### BEGIN SOLUTION
    flat = torch.cat([w.detach().reshape(-1) for w in weights.values()])
    n_prune = int(round(amount * flat.numel()))
    mask = torch.ones_like(flat)
    if n_prune > 0:
        mask[torch.topk(flat.abs(), k=n_prune, largest=False).indices] = 0.0
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = mask[start:start + w.numel()].reshape(w.shape)
        start += w.numel()
    return masks
    ### END SOLUTION

# %% [tests id=test_magnitude_mask points=4]
with checking("magnitude_mask"):
    got = magnitude_mask(torch.tensor([[-5.0, 0.1, 3.0, -0.2], [0.5, -0.05, 2.0, -4.0]]), 0.5)
expect_close("magnitude_mask of 8 weights, amount 0.5 (prunes the 4 smallest |w|)", got.tolist(),
             [[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
expect_close("magnitude_mask keeps everything at amount 0", magnitude_mask(torch.arange(1.0, 4.0), 0.0).tolist(),
             [1.0, 1.0, 1.0])
### BEGIN HIDDEN TESTS
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_magnitude_mask")
_check = Check("magnitude_mask", "random weight matrices pruned by fractions from 0.1 to 1",
               hint="prune the round(amount * n) entries of smallest magnitude |w|: a weight of -3 matters as "
                    "much as one of +3, so large negative weights are kept too.")
for _k, _amount in enumerate([0.1, 0.5, 0.77, 0.9, 1.0]):
    _w = _torch.as_tensor(_rng.normal(size=(int(_rng.integers(3, 20)), int(_rng.integers(3, 20)))))
    report(f"magnitude_mask_{_k}", magnitude_mask(_w, _amount), check=_check,
           example=f"a {_w.shape[0]}x{_w.shape[1]} matrix of normal weights, amount {_amount}")
### END HIDDEN TESTS

# %% [tests id=test_global_masks points=2]
with checking("global_magnitude_masks"):
    got = global_magnitude_masks({"a": torch.tensor([1.0, -2.0, 3.0]), "b": torch.tensor([0.1, -0.2])}, 0.4)
expect_close("global masks: the two smallest of all five are both in b", got["a"].tolist(), [1.0, 1.0, 1.0])
expect_close("global masks of b", got["b"].tolist(), [0.0, 0.0])
### BEGIN HIDDEN TESTS
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_global_masks")
_check = Check("global_magnitude_masks", "layer masks of two random layers pruned together (2 fractions x 2 layers)",
               hint="one threshold across all layers: rank the magnitudes |w| of every entry of every tensor "
                    "together, so a layer of small weights loses more than amount of its own.")
_weights = {"w1": _torch.as_tensor(_rng.normal(size=(12, 9))),
            "w2": _torch.as_tensor(0.2 * _rng.normal(size=(9, 4)))}
for _k, _amount in enumerate([0.3, 0.8]):
    _masks = global_magnitude_masks(_weights, _amount)
    report(f"global_masks_{_k}_w1", _masks["w1"], check=_check,
           example=f"a 12x9 and a 9x4 layer of smaller weights, amount {_amount}")
    report(f"global_masks_{_k}_w2", _masks["w2"], check=_check,
           example=f"a 12x9 and a 9x4 layer of smaller weights, amount {_amount}")
### END HIDDEN TESTS

# %% [markdown]
# ### Fine-tuning that keeps the masks
#
# Pruning alone costs accuracy; retraining the survivors wins it back (Han et al.
# prune and retrain in several rounds). The trap: an optimizer step moves *every*
# weight it has a gradient or a momentum for, so a weight zeroed before training does
# not stay zero. The mask must be applied again **after every optimizer step**.
#
# Write `finetune_pruned(model, masks, X, y, epochs, lr, seed=0)`: `masks` maps
# parameter names (as in `model.named_parameters()`) to masks. Apply the masks to the
# weights (in place, under `torch.no_grad()`), then train like `train_epochs` in the
# set-up cell (SGD, momentum 0.9, cross-entropy, batches from
# `minibatches(len(X), 32, seed + epoch)`), re-applying the masks after each
# `optimizer.step()`. Train `model` itself (in place) and return it.
#
# The tests watch the weights while you train: every forward pass of the model must
# compute with the pruned weights at exactly 0, the surviving weights must move, and
# the fine-tuned network must classify digits it never saw.

# %% [solution id=finetune_pruned]
def apply_masks(model, masks):
    """W <- W * m for every masked parameter, in place."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


def finetune_pruned(model, masks, X, y, epochs, lr, seed=0):
    """SGD with momentum in which pruned weights stay exactly zero."""
    ### BEGIN SOLUTION
    apply_masks(model, masks)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for epoch in range(epochs):
        for batch in minibatches(len(X), 32, seed + epoch):
            loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            apply_masks(model, masks)
    return model
    ### END SOLUTION

# %% [tests id=test_finetune_pruned points=4]
def _watch_pruned(model, masks):
    """Forward hooks counting the pruned weights that were not 0 in a forward pass of the model."""
    seen = {"passes": 0, "nonzero": 0}
    modules = dict(model.named_modules())

    def hook_for(mask, first):
        def hook(module, inputs, output):
            seen["passes"] += first
            seen["nonzero"] += int((module.weight.detach()[mask == 0] != 0).sum())
        return hook

    handles = [modules[name.rsplit(".", 1)[0]].register_forward_hook(hook_for(mask, k == 0))
               for k, (name, mask) in enumerate(masks.items())]
    return seen, handles


_model = make_mlp(1, sizes=(64, 16, 10))
_generator = torch.Generator().manual_seed(0)
_masks = {name: (torch.rand(w.shape, generator=_generator) > 0.7).float().to(DEVICE)
          for name, w in weight_matrices(_model).items()}  # 70% of each matrix pruned at random
_seen, _handles = _watch_pruned(_model, _masks)
try:
    with checking("finetune_pruned"):
        finetune_pruned(_model, _masks, X_train_t[:256], y_train_t[:256], epochs=2, lr=0.05)
finally:
    for _handle in _handles:
        _handle.remove()
_pruned = torch.cat([p.detach()[_masks[n] == 0] for n, p in _model.named_parameters() if n in _masks])
expect_equal("pruned weights that are not exactly 0 after fine-tuning", int((_pruned != 0).sum()), 0)
expect_equal("pruned weights seen not 0 by a forward pass during fine-tuning", _seen["nonzero"], 0)
expect_equal("forward passes of the model, at least one per mini-batch (2 epochs of 8)", min(_seen["passes"], 16), 16)
### BEGIN HIDDEN TESTS
import math as _math

import numpy as _np
import torch as _torch
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, Rule, grading_rng, report

_rng = grading_rng("test_finetune_pruned")
_stay_zero = Check("finetune_pruned", "layers whose pruned weights were watched in every forward pass of fine-tuning",
                   hint="pruned weights must be exactly 0 in every forward pass, not only at the end: apply the "
                        "masks before training and after every optimizer step (momentum revives them).")
_trains = Check("finetune_pruned", "measurements of a fine-tuning run (surviving weights moved, forward passes, "
                                   "accuracy on unseen digits)",
                hint="train the surviving weights in place like train_epochs (SGD with momentum, a pass per "
                     "mini-batch) while the pruned ones stay exactly 0 in every forward pass: apply the masks before "
                     "training and after every optimizer step.")
_device = _torch.device("cuda" if _torch.cuda.is_available() else "cpu")
_X_pool, _y_pool = _load_digits("train")
_X_new, _y_new = _load_digits("test")           # held out: the accuracy is measured there
_torch.manual_seed(int(_rng.integers(2**31)))
_model = _torch.nn.Sequential(_torch.nn.Linear(64, 32), _torch.nn.ReLU(), _torch.nn.Linear(32, 10)).to(_device)
_layers = [_model[0], _model[2]]                 # held here: what the test reads after training
_names = ["0.weight", "2.weight"]
_before = [_layer.weight.detach().cpu().numpy().astype(_np.float64) for _layer in _layers]
_keep = [(_rng.random(_w.shape) < 0.5).astype(_np.float32) for _w in _before]   # half of each matrix pruned
_largest = [_np.zeros(_w.shape) for _w in _before]   # the largest |w| each position had in a forward pass
_passes = [0, 0]


def _watch(_k):
    """A forward hook: it runs after the layer's forward pass and sees the weights that pass used."""
    def _hook(_module, _inputs, _output):
        _largest[_k] = _np.maximum(_largest[_k], _module.weight.detach().abs().cpu().numpy())
        _passes[_k] += 1
    return _hook


_hooks = [_layer.register_forward_hook(_watch(_k)) for _k, _layer in enumerate(_layers)]
_rows = _rng.choice(len(_X_pool), size=600, replace=False)
_epochs = 5
try:
    finetune_pruned(_model, {_n: _torch.as_tensor(_m, device=_device) for _n, _m in zip(_names, _keep)},
                    _torch.as_tensor(_X_pool[_rows], device=_device),
                    _torch.as_tensor(_y_pool[_rows], dtype=_torch.int64, device=_device),
                    epochs=_epochs, lr=0.3, seed=int(_rng.integers(100)))
finally:
    for _hook_handle in _hooks:
        _hook_handle.remove()
_after = [_layer.weight.detach().cpu().numpy().astype(_np.float64) for _layer in _layers]
_bias = [_layer.bias.detach().cpu().numpy().astype(_np.float64) for _layer in _layers]
_example = f"a 64-32-10 MLP with half of each weight matrix pruned, {_epochs} epochs on {len(_rows)} digits"
for _k in range(2):
    report(f"finetune_{_k}_before", _before[_k], check=_trains)
    report(f"finetune_{_k}_kept", _keep[_k], check=_trains)
    report(f"finetune_{_k}_pruned", 1 - _keep[_k], check=_stay_zero)
    report(f"finetune_{_k}_zeros", _np.zeros_like(_before[_k]), check=_stay_zero)
    # the surviving weights trained (the reference moves 77-92% of them on 20 seeds: weights of dead units
    # and of pixels blank in every training row get no gradient)
    report(f"finetune_{_k}_after", _after[_k],
           rule=Rule.changed(baseline=f"finetune_{_k}_before", at_least=0.5, where=f"finetune_{_k}_kept"),
           check=_trains, example=_example)
    # the pruned weights were 0 in every forward pass of training, and are 0 at the end
    report(f"finetune_{_k}_largest_seen", _np.maximum(_largest[_k], _np.abs(_after[_k])),
           rule=Rule.unchanged(baseline=f"finetune_{_k}_zeros", where=f"finetune_{_k}_pruned"),
           check=_stay_zero, example=_example)
    # one forward pass per mini-batch at least
    report(f"finetune_{_k}_forward_passes", _passes[_k],
           rule=Rule.bounds(low=_epochs * _math.ceil(len(_rows) / 32)), check=_trains, example=_example)
# the fine-tuned network, computed here from its weights, on 200 digits it never saw (the reference: 82-98%)
_eval = _rng.choice(len(_X_new), size=200, replace=False)
_hidden = _np.maximum(_X_new[_eval].astype(_np.float64) @ _after[0].T + _bias[0], 0.0)
report("finetune_labels", _y_new[_eval], check=_trains)
report("finetune_predictions", _np.argmax(_hidden @ _after[1].T + _bias[1], axis=1),
       rule=Rule.accuracy(labels="finetune_labels", at_least=0.6), check=_trains, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# ### Accuracy against sparsity
#
# Prune the dense model to increasing sparsity, one layer at a time with the same
# fraction, and fine-tune each for a few epochs. Where does accuracy start to fall?
# (Deep Compression removes 92% of LeNet-300-100's weights at no loss.)

# %% [code]
sparsities = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95]
pruned_accuracy, before_finetune = [], []
with checking("magnitude_mask and finetune_pruned"):
    for amount in sparsities:
        model = copy.deepcopy(dense_model)
        masks = {name: magnitude_mask(w, amount) for name, w in weight_matrices(model).items()}
        apply_masks(model, masks)
        before_finetune.append(accuracy(model))
        finetune_pruned(model, masks, X_train_t, y_train_t, epochs=3, lr=0.01)
        pruned_accuracy.append(accuracy(model))
        if amount == 0.9:
            pruned_model, pruned_masks = model, masks
plt.plot(sparsities, before_finetune, "o--", label="pruned, before fine-tuning")
plt.plot(sparsities, pruned_accuracy, "o-", label="pruned and fine-tuned")
plt.axhline(dense_accuracy - 0.01, color="gray", lw=0.8, label="dense - 1 point")
plt.xlabel("fraction of weights removed"); plt.ylabel("test accuracy"); plt.legend(); plt.show()

# %% [markdown]
# ## Part 2. Trained quantization by weight sharing
#
# After pruning, the survivors of a layer still take 32 bits each. Weight sharing
# clusters them into $k = 2^b$ groups with **k-means**: the layer keeps a codebook
# $C$ of $k$ floats and, per weight, a $b$-bit index $I_{ij}$, and computes with
# $W_{ij} = C[I_{ij}]$. k-means minimises $\sum_i (w_i - C[I_i])^2$ by alternating
# two exact steps (Lloyd's algorithm): **assign** each value to its nearest centroid,
# then **update** each centroid to the mean of its members.
#
# Write `kmeans_1d(values, k, iterations)` in NumPy: start from the **linear
# initialisation** `np.linspace(values.min(), values.max(), k)` (Deep Compression's
# choice: it keeps centroids out where the few large weights are), run exactly
# `iterations` rounds of assign-then-update (a centroid with no members keeps its
# value; ties in the assignment go to the lower index, as `np.argmin` does), and
# return `(centroids, labels)` where `labels` is one final assignment to the returned
# centroids.

# %% [solution id=kmeans]
def kmeans_1d(values, k, iterations=30):
    """Lloyd's k-means on scalars from a linear initialisation; returns (centroids, labels)."""
    ### BEGIN SOLUTION
    values = np.asarray(values, dtype=np.float64).ravel()
    centroids = np.linspace(values.min(), values.max(), k)
    for _ in range(iterations):
        labels = np.argmin(np.abs(values[:, None] - centroids[None, :]), axis=1)
        sums = np.bincount(labels, weights=values, minlength=k)
        counts = np.bincount(labels, minlength=k)
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    labels = np.argmin(np.abs(values[:, None] - centroids[None, :]), axis=1)
    return centroids, labels
    ### END SOLUTION

# %% [tests id=test_kmeans points=4]
with checking("kmeans_1d"):
    centroids, labels = kmeans_1d(np.array([-2.0, -2.2, -1.8, 0.0, 0.2, 3.0]), 3, iterations=10)
expect_close("kmeans_1d centroids of three clear groups", centroids, [-2.0, 0.1, 3.0])
expect_equal("kmeans_1d labels", [int(v) for v in labels], [0, 0, 0, 1, 1, 2])
expect_close("one iteration from linear initialisation over [0, 4] with k=2",
             kmeans_1d(np.array([0.0, 1.0, 3.0, 4.0]), 2, iterations=1)[0], [0.5, 3.5])
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_kmeans")
_check = Check("kmeans_1d", "results (centroids or labels) for random 1-D data clustered into 2, 4 and 16 groups",
               hint="Lloyd's algorithm from the linear initialisation: exactly `iterations` rounds of assign (nearest "
                    "centroid, ties to the lower index) then update (each centroid to its members' mean; an empty one "
                    "stays), then one final assignment.")
for _k, (_n, _clusters) in enumerate([(50, 2), (400, 4), (1000, 16)]):
    _values = _np.concatenate([_rng.normal(-1.0, 0.3, _n), _rng.normal(0.8, 0.2, _n // 2), _rng.laplace(0, 0.5, _n)])
    _centroids, _labels = kmeans_1d(_values, _clusters, iterations=20)
    report(f"kmeans_{_k}_centroids", _centroids, rtol=1e-6, atol=1e-9, check=_check,
           example=f"{_values.size} values from three groups, k = {_clusters}, 20 iterations")
    report(f"kmeans_{_k}_labels", _labels, check=_check,
           example=f"{_values.size} values from three groups, k = {_clusters}, 20 iterations")
### END HIDDEN TESTS

# %% [markdown]
# ### Fine-tuning the shared values
#
# The indices stay fixed; the codebook trains. Every member of cluster $k$ *is*
# $C_k$, so by the chain rule the gradient of the loss with respect to a centroid is
# the **sum** of its members' gradients:
#
# $$\frac{\partial L}{\partial C_k} = \sum_{i,j} \frac{\partial L}{\partial W_{ij}}\,\mathbb 1[I_{ij} = k],$$
#
# over the surviving (unpruned) weights only, and an SGD step is
# $C_k \leftarrow C_k - \eta\,\partial L / \partial C_k$.
#
# Write `centroid_gradients(weight_grad, indices, mask, k)`: `weight_grad` is
# $\partial L/\partial W$ (a torch tensor), `indices` an int64 tensor of the same shape,
# `mask` a bool tensor (True = survives); return the tensor of $k$ centroid gradients
# (a centroid with no members gets 0). `torch.Tensor.index_add_` or `torch.bincount`
# with `weights=` does it in one line.

# %% [solution id=centroid_gradients]
def centroid_gradients(weight_grad, indices, mask, k):
    """dL/dC_k: the sum of dL/dW over the surviving members of cluster k; shape (k,)."""
    ### BEGIN SOLUTION
    grad = torch.zeros(k, dtype=weight_grad.dtype, device=weight_grad.device)
    return grad.index_add_(0, indices[mask], weight_grad[mask])
    ### END SOLUTION

# %% [tests id=test_centroid_gradients points=3]
with checking("centroid_gradients"):
    got = centroid_gradients(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0, 1], [1, 1]]),
                             torch.tensor([[True, True], [True, False]]), 3)
expect_close("centroid gradients: cluster 1 sums 2 + 3 (the 4 is pruned), cluster 2 is empty", got.tolist(),
             [1.0, 5.0, 0.0])
### BEGIN HIDDEN TESTS
import torch as _torch
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_centroid_gradients")
_check = Check("centroid_gradients", "random gradient matrices shared by 2, 8 and 32 clusters",
               hint="by the chain rule a centroid's gradient is the sum of its members' gradients, over the "
                    "surviving weights only (pruned ones left out); an empty cluster gets 0.")
for _k, _clusters in enumerate([2, 8, 32]):
    _shape = (int(_rng.integers(5, 30)), int(_rng.integers(5, 30)))
    _grad = _torch.as_tensor(_rng.normal(size=_shape))
    _idx = _torch.as_tensor(_rng.integers(0, _clusters, size=_shape))
    _mask = _torch.as_tensor(_rng.random(_shape) > 0.4)
    report(f"centroid_gradients_{_k}", centroid_gradients(_grad, _idx, _mask, _clusters), rtol=1e-9, atol=1e-12,
           check=_check, example=f"a {_shape[0]}x{_shape[1]} gradient, {_clusters} clusters, 60% of weights kept")
### END HIDDEN TESTS

# %% [markdown]
# Now share the 90%-pruned model's weights with $b = 1 \dots 5$ bits, fine-tune each
# codebook for two epochs with your centroid gradients, and plot accuracy against
# bits per weight. The int8 point comes from Part 3; the paper needs 5 bits for
# fully connected layers (8 for convolutions) at no loss. The indices at 5 bits per
# weight already make a 6x smaller layer than float32.

# %% [code]
def share_model(model, masks, bits):
    """Cluster each masked weight matrix into 2^bits values; returns {name: (codebook, indices, mask)}."""
    shared = {}
    for name, param in weight_matrices(model).items():
        keep = masks[name] != 0
        codebook, labels = kmeans_1d(param.detach()[keep].cpu().numpy(), 2**bits, iterations=20)
        indices = torch.zeros(param.shape, dtype=torch.int64, device=DEVICE)
        indices[keep] = torch.as_tensor(labels, device=DEVICE)
        shared[name] = (torch.as_tensor(codebook, dtype=param.dtype, device=DEVICE), indices, keep)
        with torch.no_grad():
            param.copy_(shared[name][0][indices] * keep)
    return shared


def finetune_shared(model, shared, epochs=2, lr=0.002):
    """SGD on the codebooks (and plain SGD on the biases); the indices stay fixed."""
    params = dict(model.named_parameters())
    for epoch in range(epochs):
        for batch in minibatches(len(X_train_t), 32, 100 + epoch):
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(X_train_t[batch]), y_train_t[batch]).backward()
            with torch.no_grad():
                for name, param in params.items():
                    if name in shared:
                        codebook, indices, keep = shared[name]
                        codebook -= lr * centroid_gradients(param.grad, indices, keep, len(codebook))
                        param.copy_(codebook[indices] * keep)
                    else:
                        param -= lr * param.grad
    return model


bits_range = [1, 2, 3, 4, 5]
shared_accuracy = []
with checking("kmeans_1d and centroid_gradients"):
    for bits in bits_range:
        model = copy.deepcopy(pruned_model)
        shared = share_model(model, pruned_masks, bits)
        finetune_shared(model, shared)
        shared_accuracy.append(accuracy(model))
        if bits == 4:
            shared_model, shared_layers = model, shared

# %% [code]
with checking("the histograms of the pruned and shared models"):
    pruned_model, shared_model   # made by the two cells above: run them first
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
for ax, (title, model) in zip(axes, [("dense", dense_model), ("pruned 90%", pruned_model),
                                     ("pruned + shared, 4 bits", shared_model)]):
    values = model[0].weight.detach().cpu().numpy().ravel()
    ax.hist(values[values != 0], bins=80)
    ax.set_title(f"{title}: first layer, nonzero weights"); ax.set_xlabel("weight")
axes[0].set_ylabel("count"); plt.show()

# %% [markdown]
# ## Part 3. Fixed-point quantization to int8
#
# Inference hardware computes in integers: a real number $x$ is stored as an int8 code
# $q$ with a float **scale** $s$ and an integer **zero point** $z$,
#
# $$q = \mathrm{clamp}\big(\mathrm{round}(x / s) + z,\; -128,\; 127\big), \qquad \hat x = s\,(q - z),$$
#
# rounding to the nearest integer with ties to even (`np.rint`), as torch's quantized
# tensors do. Choosing $s$ and $z$ from the data, with the range always holding 0,
# $lo = \min(\min x, 0)$ and $hi = \max(\max x, 0)$:
#
# - **symmetric**: $z = 0$, $s = \max(|lo|, |hi|) / 127$;
# - **asymmetric**: $s = (hi - lo) / 255$, $z = -128 - \mathrm{round}(lo / s)$, so that
#   $lo$ maps to $-128$, $hi$ to $127$, and 0 is represented exactly (by the integer $z$).
#
# If the range is all zeros, use $s = 1$. Inside the range the error $|\hat x - x|$ is at
# most $s/2$.
#
# Write `int8_qparams(x, scheme, per_channel)` returning `(scale, zero_point)` as NumPy
# arrays (float64 and int64): per tensor they are 0-d arrays, **per channel** (one pair
# for each row `x[c]` of a 2-D `x`, the output channels of a weight matrix) they have
# shape `(C, 1)` so that they broadcast against `x`. Then `quantize_int8(x, scale,
# zero_point)` (an `np.int8` array) and `dequantize_int8(q, scale, zero_point)` (float64).

# %% [solution id=int8_quantization]
def int8_qparams(x, scheme="symmetric", per_channel=False):
    """(scale, zero_point) for int8 under 'symmetric' or 'asymmetric', per tensor or per row."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    if per_channel:
        lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    else:
        lo, hi = np.asarray(x.min()), np.asarray(x.max())
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    if scheme == "symmetric":
        scale = np.maximum(np.abs(lo), np.abs(hi)) / 127
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.zeros(scale.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / 255
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = (-128 - np.rint(lo / scale)).astype(np.int64)
    return scale, zero_point
    ### END SOLUTION


def quantize_int8(x, scale, zero_point):
    """q = clamp(rint(x / s) + z, -128, 127) as int8."""
    ### BEGIN SOLUTION
    q = np.rint(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)
    ### END SOLUTION


def dequantize_int8(q, scale, zero_point):
    """x_hat = s (q - z)."""
    ### BEGIN SOLUTION
    return scale * (np.asarray(q).astype(np.int64) - zero_point)
    ### END SOLUTION

# %% [tests id=test_int8 points=5]
with checking("int8_qparams"):
    scale, zero_point = int8_qparams(np.array([-1.0, 0.0, 3.0]), "asymmetric")
expect_close("asymmetric scale of [-1, 0, 3]", scale, 4 / 255)
expect_equal("asymmetric zero point of [-1, 0, 3]", int(zero_point), -64)
with checking("quantize_int8"):
    q = quantize_int8(np.array([-1.0, 0.0, 3.0]), scale, zero_point)
expect_equal("codes of [-1, 0, 3]", [int(v) for v in q], [-128, -64, 127])
expect_close("0 comes back exactly", dequantize_int8(q, scale, zero_point)[1], 0.0, atol=0)
scale, zero_point = int8_qparams(np.array([[1.0, -2.0], [0.5, 0.25]]), "symmetric", per_channel=True)
expect_close("symmetric per-channel scales", scale, [[2 / 127], [0.5 / 127]])
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_int8")
_set_ups = "quantizations of a random 7x13 matrix"
_scale_check = Check("int8_qparams", f"scales of {_set_ups}",
                     hint="the range [lo, hi] always includes 0. Symmetric: zero point 0, max(|lo|, |hi|) over 127 "
                          "steps. Asymmetric: hi - lo over 255 steps, and the zero point maps lo to -128 and hi to "
                          "127, so 0 is exact. Per channel: one pair per row.")
_zero_check = Check("int8_qparams", "zero points of quantizations of a random 7x13 matrix and of positive values",
                    hint="the asymmetric zero point makes lo map to the lowest code -128 and hi to 127, so that 0 is "
                         "represented exactly by the integer zero point; symmetric has zero point 0.")
_codes_check = Check("quantize_int8", f"code arrays of {_set_ups}",
                     hint="a code is x / s rounded to the nearest integer (ties to even, as np.rint does), shifted by "
                          "the zero point and clamped to the int8 range [-128, 127].")
_bytes_check = Check("quantize_int8", "code arrays of a random 7x13 matrix, read as the bytes they occupy",
                     hint="int8 storage is the point: each code takes one byte, so return an np.int8 array (two's "
                          "complement), not a wider integer type.")
_values_check = Check("dequantize_int8", f"dequantized matrices of {_set_ups}",
                      hint="x_hat = s (q - z) in float64: widen the int8 codes to a larger integer type before "
                           "subtracting the zero point (int8 arithmetic wraps around).")
_x = _rng.normal(size=(7, 13)) * _rng.uniform(0.05, 4, size=(7, 1)) + _rng.normal(size=(7, 1))
for _scheme in ("symmetric", "asymmetric"):
    for _per_channel in (False, True):
        _key = f"int8_{_scheme}_{'channel' if _per_channel else 'tensor'}"
        _scale, _zp = int8_qparams(_x, _scheme, _per_channel)
        _q = quantize_int8(_x, _scale, _zp)
        _example = f"the {_scheme} scheme per {'channel' if _per_channel else 'tensor'}"
        report(f"{_key}_scale", _np.ravel(_scale), rtol=1e-9, atol=1e-12, check=_scale_check, example=_example)
        report(f"{_key}_zero_point", _np.ravel(_zp), check=_zero_check, example=_example)
        report(f"{_key}_codes", _q, check=_codes_check, example=_example)
        # the codes as the bytes they occupy: one byte each, two's complement (an int8 array)
        report(f"{_key}_code_bytes", _np.frombuffer(_np.ascontiguousarray(_q).tobytes(), dtype=_np.uint8),
               check=_bytes_check, example=_example)
        report(f"{_key}_values", dequantize_int8(_q, _scale, _zp), rtol=1e-9, atol=1e-12, check=_values_check,
               example=_example)
_y = _rng.uniform(0.5, 2.0, size=20)  # a one-sided range: the zero point sits at the bottom
_scale, _zp = int8_qparams(_y, "asymmetric")
report("int8_one_sided_zero_point", _np.ravel(_zp), check=_zero_check,
       example="the asymmetric scheme per tensor, 20 values between 0.5 and 2")
report("int8_one_sided_codes", quantize_int8(_y, _scale, _zp), check=_codes_check,
       example="the asymmetric scheme per tensor, 20 values between 0.5 and 2")
### END HIDDEN TESTS

# %% [code]
def int8_model(model, scheme="symmetric", per_channel=True):
    """A copy of model whose weight matrices went through int8 and back (biases stay float32)."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for param in weight_matrices(model).values():
            w = param.detach().cpu().numpy()
            scale, zero_point = int8_qparams(w, scheme, per_channel)
            param.copy_(torch.as_tensor(dequantize_int8(quantize_int8(w, scale, zero_point), scale, zero_point)))
    return model


with checking("the int8 functions"):
    int8_accuracy = {(s, c): accuracy(int8_model(dense_model, s, c))
                     for s in ("symmetric", "asymmetric") for c in (False, True)}
for (s, c), acc in int8_accuracy.items():
    print(f"int8 {s:10s} per-{'channel' if c else 'tensor '}: {acc:.1%} (dense {dense_accuracy:.1%})")
plt.plot(bits_range, shared_accuracy, "o-", label="pruned 90% + shared (k-means)")
plt.plot([8], [int8_accuracy[("symmetric", True)]], "s", label="int8 per channel (dense)")
plt.plot([32], [dense_accuracy], "^", label="float32 (dense)")
plt.xscale("log", base=2); plt.xlabel("bits per weight"); plt.ylabel("test accuracy"); plt.legend(); plt.show()

# %% [markdown]
# ## Part 4. Huffman coding
#
# The indices of a shared layer are far from uniform (look at the histogram: most
# weights sit in a few clusters near zero), so a fixed $b$ bits each is wasteful. A
# **prefix code** gives frequent symbols short code words and rare ones long words;
# because no word is a prefix of another, the concatenated bits decode one way only.
# Huffman's algorithm builds the best such code: put every symbol in a priority queue
# weighted by its count, repeatedly take out the two lightest subtrees and join them
# under a new node (prepend `0` to every code word of one and `1` to every word of the
# other), until one tree is left. The average length is within one bit of the entropy.
#
# Write `huffman_code(counts)`: from a dict `{symbol: count}` (counts > 0), return
# `{symbol: code word}` with words as strings of `"0"` and `"1"`. A single symbol gets
# the word `"0"`. Then `huffman_encode(symbols, code)`, which joins the words of a
# list of symbols and packs the bits into `bytes` (8 bits a byte, first bit in the
# highest place, the last byte padded with zeros), returning `(data, n_bits)`, and
# `huffman_decode(data, n_bits, code)`, which returns the list of symbols.
# `heapq` and `int(bits, 2).to_bytes(...)` help.

# %% [solution id=huffman]
import heapq


def huffman_code(counts):
    """{symbol: code word} of a Huffman code for the histogram counts."""
    ### BEGIN SOLUTION
    if len(counts) == 1:
        return {next(iter(counts)): "0"}
    heap = [(count, order, {symbol: ""}) for order, (symbol, count) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        count_a, _, left = heapq.heappop(heap)
        count_b, _, right = heapq.heappop(heap)
        merged = {s: "0" + word for s, word in left.items()}
        merged.update({s: "1" + word for s, word in right.items()})
        heapq.heappush(heap, (count_a + count_b, order, merged))
        order += 1
    return heap[0][2]
    ### END SOLUTION


def huffman_encode(symbols, code):
    """(bytes, number of meaningful bits) of the symbols' code words joined."""
    ### BEGIN SOLUTION
    bits = "".join(code[s] for s in symbols)
    padded = bits + "0" * (-len(bits) % 8)
    data = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return data, len(bits)
    ### END SOLUTION


def huffman_decode(data, n_bits, code):
    """The list of symbols that huffman_encode packed."""
    ### BEGIN SOLUTION
    lookup = {word: symbol for symbol, word in code.items()}
    bits = bin(int.from_bytes(data, "big"))[2:].zfill(8 * len(data))[:n_bits]
    out, word = [], ""
    for bit in bits:
        word += bit
        if word in lookup:
            out.append(lookup[word])
            word = ""
    return out
    ### END SOLUTION

# %% [tests id=test_huffman points=5]
with checking("huffman_code"):
    code = huffman_code({"a": 5, "b": 2, "c": 1, "d": 1})
expect_equal("code word lengths for counts a:5 b:2 c:1 d:1", sorted(len(w) for w in code.values()), [1, 2, 3, 3])
expect_equal("the most frequent symbol gets the shortest word", len(code["a"]), 1)
with checking("huffman_encode"):
    data, n_bits = huffman_encode(list("aabacd"), code)
expect_equal("bits of 'aabacd' (1+1+2+1+3+3)", n_bits, 11)
expect_equal("bytes of 11 bits", len(data), 2)
with checking("huffman_decode"):
    expect_equal("decode(encode(x)) == x", huffman_decode(data, n_bits, code), list("aabacd"))
expect_equal("a single symbol", huffman_decode(*huffman_encode([7, 7, 7], huffman_code({7: 3})), huffman_code({7: 3})),
             [7, 7, 7])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_huffman")
_streams_words = "symbol streams (geometric, uniform, skewed, one symbol, two symbols)"
_prefix_check = Check("huffman_code", f"{_streams_words}, their code words joined and read back with the code alone",
                      hint="a prefix code: no code word may be the beginning of another, so when two subtrees merge, "
                           "every word on both sides gets one more bit in front (0 on one side, 1 on the other).")
_length_check = Check("huffman_code", f"{_streams_words}, total bits of the code",
                      hint="Huffman's algorithm: repeatedly merge the two lightest subtrees (smallest total count) "
                           "until one tree is left; frequent symbols get short words; a single symbol gets \"0\".")
_encode_check = Check("huffman_encode", f"encodings of {_streams_words} (bit count, byte count, the bits in the bytes)",
                      hint="join the symbols' code words and pack 8 bits a byte, the first bit in the highest place, "
                           "the last byte padded with zeros; n_bits counts only the meaningful bits.")
_decode_check = Check("huffman_decode", f"decodings of {_streams_words}",
                      hint="read the first n_bits bits of the bytes (first bit in the highest place) and emit a "
                           "symbol whenever the bits read since the last one form a code word.")
_streams = {
    "geometric": (_rng.geometric(0.25, size=2000) - 1).tolist(),
    "uniform": _rng.integers(0, 16, size=500).tolist(),
    "skewed": [0] * int(_rng.integers(500, 5000)) + [1, 2, 2, 3, 3, 3, 3],
    "one_symbol": [int(_rng.integers(0, 9))] * int(_rng.integers(1, 50)),
    "two_symbols": [0] * int(_rng.integers(1, 30)) + [1] * int(_rng.integers(1, 30)),
}


def _read_words(_bits, _code):
    """The symbols a reader that knows only the code finds in the bit string: it takes the first
    word that matches (a -1 at the end for bits left over). A prefix-free code reads back the stream."""
    _lookup = {}
    for _symbol, _word in _code.items():
        _lookup.setdefault(str(_word), _symbol)
    _out, _word = [], ""
    for _bit in _bits:
        _word += _bit
        if _word in _lookup:
            _out.append(_lookup[_word])
            _word = ""
    return _out + ([-1] if _word or "" in _lookup else [])


for _name, _stream in _streams.items():
    _counts = {s: _stream.count(s) for s in sorted(set(_stream))}
    _code = huffman_code(_counts)
    _example = f"the {_name.replace('_', ' ')} stream: {len(_stream)} symbols, {len(_counts)} distinct"
    # the code alone: its words joined, read back by a reader that knows only the code
    report(f"huffman_{_name}_read_from_words", _read_words("".join(str(_code[s]) for s in _stream), _code),
           check=_prefix_check, example=_example)
    report(f"huffman_{_name}_total_bits", sum(_counts[s] * len(_code[s]) for s in _counts), check=_length_check,
           example=_example)
    _data, _n_bits = huffman_encode(_stream, _code)
    report(f"huffman_{_name}_n_bits", _n_bits, check=_encode_check, example=_example)
    report(f"huffman_{_name}_n_bytes", len(_data), check=_encode_check, example=_example)
    # your bytes, unpacked here (first bit in the highest place) and read with your code
    _bits = "".join(format(_byte, "08b") for _byte in bytes(_data))[:int(_n_bits)]
    report(f"huffman_{_name}_read_from_bytes", _read_words(_bits, _code), check=_encode_check, example=_example)
    report(f"huffman_{_name}_decoded", list(huffman_decode(_data, _n_bits, _code)), check=_decode_check,
           example=_example)
### END HIDDEN TESTS

# %% [markdown]
# ## Part 5. The whole pipeline in bits, and the bytes each inference moves
#
# Deep Compression stores a pruned layer as its surviving values in order, each with
# the number of zeros skipped before it (a **relative index** of 5 bits for fully
# connected layers; a longer run of zeros needs a *filler* entry). With sharing, each
# value is a $b$-bit index into a 32-bit-float codebook of $2^b$ entries; Huffman coding
# then shortens both the index stream and the gap stream. The cell below tables all
# of it with your functions, and turns the bits into bytes and DRAM energy per
# inference (batch 1, every weight read once at about 640 pJ per 32 bits).

# %% [code]
def gap_codes(keep, gap_bits=5):
    """Zeros skipped before each stored weight, with fillers (code 2^bits - 1: skip that many, store nothing)."""
    jump, codes = 2**gap_bits - 1, []
    positions = np.flatnonzero(np.asarray(keep).ravel())
    for skip in (np.diff(positions, prepend=-1) - 1).tolist():
        codes += [jump] * (skip // jump) + [skip % jump]
    return codes


def huffman_bits(stream):
    counts = {s: stream.count(s) for s in set(stream)}
    code = huffman_code(counts)
    return sum(counts[s] * len(code[s]) for s in counts)


def pipeline_sizes(dense, masks, shared, gap_bits=5):
    """Bits of all weight matrices at each stage of the pipeline."""
    sizes = {"float32": 0, "pruned 90%": 0, "+ shared 4 bits": 0, "+ Huffman": 0, "int8 per channel": 0}
    for name, param in weight_matrices(dense).items():
        n = param.numel()
        codebook, indices, keep = shared[name]
        keep_np = keep.cpu().numpy()
        gaps = gap_codes(keep_np, gap_bits)
        stored = int(keep_np.sum())
        sizes["float32"] += 32 * n
        sizes["pruned 90%"] += 32 * stored + gap_bits * len(gaps)
        sizes["+ shared 4 bits"] += 4 * stored + gap_bits * len(gaps) + 32 * len(codebook)
        sizes["+ Huffman"] += (huffman_bits(indices[keep].cpu().tolist()) + huffman_bits(gaps)
                               + 32 * len(codebook))
        sizes["int8 per channel"] += 8 * n + 2 * 32 * param.shape[0]
    return sizes


with checking("the Huffman coder"):
    sizes = pipeline_sizes(dense_model, pruned_masks, shared_layers)
bias_bits = 32 * sum(p.numel() for n, p in dense_model.named_parameters() if p.dim() == 1)
print(f"{'stage':18s} {'weight bits':>12s} {'ratio':>7s} {'bytes/inference':>16s} {'DRAM energy':>12s}")
for stage, bits in sizes.items():
    moved = (bits + bias_bits) / 8
    print(f"{stage:18s} {bits:12d} {sizes['float32'] / bits:6.1f}x {moved:16.0f} {moved / 4 * 640e-6:9.2f} uJ")
print(f"accuracy: dense {dense_accuracy:.1%}, pruned {pruned_accuracy[sparsities.index(0.9)]:.1%}, "
      f"shared {shared_accuracy[bits_range.index(4)]:.1%}, int8 {int8_accuracy[('symmetric', True)]:.1%}")

# %% [markdown]
# ## Part 6. Mixed precision and loss scaling
#
# Training in 16-bit floats halves the memory traffic, but float16's smallest positive
# number is $2^{-24} \approx 6\cdot 10^{-8}$: smaller gradients round to 0 and their
# information is lost. **Loss scaling** multiplies the loss by $S$ before `backward()`;
# every gradient is then $S$ times larger (chain rule) and representable. Before the
# optimizer step the gradients are divided by $S$ again, in float32. A fixed $S$ either
# wastes range or overflows, so **dynamic loss scaling** adapts it:
#
# - if any gradient is inf or nan, **skip** the step and halve $S$;
# - otherwise take the step, and after `growth_interval` clean steps in a row double $S$
#   (then count again from 0).
#
# Write the class `DynamicLossScaler(init_scale=2.0**16, growth_interval=2000)` with an
# attribute `scale`, a method `scale_loss(loss)` returning `loss * scale`, and
# `step(optimizer)`: divide every gradient of the optimizer's parameters (those in
# `optimizer.param_groups`) by `scale`, then step only if all are finite, update the
# scale by the rule above, and return whether it stepped. (This is what
# `torch.amp.GradScaler` does.)

# %% [solution id=loss_scaler]
class DynamicLossScaler:
    """Dynamic loss scaling: skip and halve on inf/nan, double after growth_interval clean steps."""

    def __init__(self, init_scale=2.0**16, growth_interval=2000):
        ### BEGIN SOLUTION
        self.scale = float(init_scale)
        self.growth_interval = growth_interval
        self.clean_steps = 0
        ### END SOLUTION

    def scale_loss(self, loss):
        ### BEGIN SOLUTION
        return loss * self.scale
        ### END SOLUTION

    def step(self, optimizer):
        ### BEGIN SOLUTION
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        for p in params:
            p.grad.div_(self.scale)
        finite = all(bool(torch.isfinite(p.grad).all()) for p in params)
        if finite:
            optimizer.step()
            self.clean_steps += 1
            if self.clean_steps == self.growth_interval:
                self.scale *= 2.0
                self.clean_steps = 0
        else:
            self.scale *= 0.5
            self.clean_steps = 0
        return finite
        ### END SOLUTION

# %% [tests id=test_loss_scaler points=4]
def _scaler_run(scaler, poisoned, steps, seed=0):
    """SGD on loss = sum(p * c), c holding inf on the poisoned steps; returns (scales, stepped, p)."""
    import numpy as np   # its own imports: the hidden tests of this cell call it too
    import torch

    p = torch.nn.Parameter(torch.as_tensor(np.random.default_rng(seed).normal(size=4)))
    optimizer = torch.optim.SGD([p], lr=0.1)
    scales, stepped = [], []
    for step in range(steps):
        c = torch.linspace(-1, 1, 4, dtype=torch.float64)
        if step in poisoned:
            c[1] = float("inf")
        optimizer.zero_grad()
        scaler.scale_loss((p * c).sum()).backward()
        stepped.append(float(scaler.step(optimizer)))
        scales.append(scaler.scale)
    return scales, stepped, p.detach().numpy()


with checking("DynamicLossScaler"):
    scales, stepped, _ = _scaler_run(DynamicLossScaler(init_scale=8.0, growth_interval=2), {2}, 6)
expect_close("scales after each step (growth every 2 clean steps, overflow at step 2)", scales,
             [8.0, 16.0, 8.0, 8.0, 16.0, 16.0])
expect_close("which steps were taken", stepped, [1, 1, 0, 1, 1, 1])
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit_autograder.kernel.channel import Check, grading_rng, report

_rng = grading_rng("test_loss_scaler")
_schedule_check = Check("DynamicLossScaler", "runs of 20 steps with random overflows (the scales, the steps taken)",
                        hint="on an inf or nan gradient skip the step and halve the scale (the clean count restarts); "
                             "after growth_interval clean steps in a row double it and count again from 0.")
_params_check = Check("DynamicLossScaler", "final parameters of runs of 20 steps with random overflows",
                      hint="step(optimizer) divides every gradient by the scale, steps only when all are finite, "
                           "and on an inf or nan skips the step and halves the scale; growth_interval clean steps "
                           "in a row double it.")
for _k in range(3):
    _interval = int(_rng.integers(1, 5))
    _poisoned = set(_np.flatnonzero(_rng.random(20) < 0.3).tolist())
    _scales, _stepped, _p = _scaler_run(DynamicLossScaler(init_scale=2.0 ** int(_rng.integers(4, 17)),
                                                          growth_interval=_interval), _poisoned, 20,
                                        seed=int(_rng.integers(1000)))
    _example = f"growth_interval {_interval}, overflows at steps {sorted(_poisoned)}"
    report(f"loss_scaler_{_k}_scales", _scales, check=_schedule_check, example=_example)
    report(f"loss_scaler_{_k}_stepped", _stepped, check=_schedule_check, example=_example)
    report(f"loss_scaler_{_k}_params", _p, rtol=1e-9, atol=1e-12, check=_params_check, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# Two experiments. First, what float16 does to small gradients, with and without a
# scale of $2^{10}$. Then the MLP trained in float32 and with `torch.autocast`
# (bfloat16 on a CPU, float16 on a GPU, where your scaler is needed; bfloat16 has
# float32's exponent range and does not underflow, but the scaler does no harm).

# %% [code]
grads = torch.logspace(-10, -2, 2000)
for scale in (1.0, 2.0**10):
    lost = float(((grads * scale).half() == 0).float().mean())
    print(f"scale {scale:6.0f}: {lost:.0%} of gradients in [1e-10, 1e-2] become 0 in float16")

half = torch.float16 if DEVICE.type == "cuda" else torch.bfloat16
results = {}
with checking("DynamicLossScaler"):
    for precision in ("float32", "mixed"):
        model = make_mlp(0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        scaler = DynamicLossScaler(init_scale=2.0**10)
        start, steps = time.perf_counter(), 0
        for epoch in range(8):
            for batch in minibatches(len(X_train_t), 32, epoch):
                with torch.autocast(DEVICE.type, dtype=half, enabled=precision == "mixed"):
                    loss = torch.nn.functional.cross_entropy(model(X_train_t[batch]), y_train_t[batch])
                optimizer.zero_grad()
                scaler.scale_loss(loss).backward()
                scaler.step(optimizer)
                steps += 1
        results[precision] = (accuracy(model), (time.perf_counter() - start) / steps * 1e3, scaler.scale)
for precision, (acc, ms, scale) in results.items():
    print(f"{precision:8s}: test accuracy {acc:.1%}, {ms:.2f} ms/step, final loss scale {scale:g}")
