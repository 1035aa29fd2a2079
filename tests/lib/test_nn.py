"""gradkit.nn against torch.nn: layers, activations, losses, init, state_dict, errors."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from gradkit import Tensor
from gradkit import nn
from gradkit.nn import F
from gradkit.nn import init as gk_init

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torch_leaf(array):
    return torch.tensor(array, dtype=torch.float64, device=DEVICE, requires_grad=True)


def to_numpy(t):
    return t.detach().cpu().numpy()


def gk_leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# ----- Linear ------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 6),
    fan_in=st.integers(1, 7),
    fan_out=st.integers(1, 7),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_forward_backward_matches_torch(batch, fan_in, fan_out, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(fan_in, fan_out, bias=bias, seed=seed)
    reference = torch.nn.Linear(fan_in, fan_out, bias=bias).double().to(DEVICE)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.weight.data.astype(np.float64)))
        if bias:
            layer.bias.data[...] = rng.normal(size=fan_out)  # non-zero, so the bias matters
            reference.bias.copy_(torch.from_numpy(layer.bias.data.astype(np.float64)))
    x = rng.normal(size=(batch, fan_in))
    upstream = rng.normal(size=(batch, fan_out))

    xg = gk_leaf(x)
    out = layer(xg)
    out.backward(upstream)
    xt = torch_leaf(x)
    out_t = reference(xt)
    out_t.backward(torch.tensor(upstream, device=DEVICE))

    np.testing.assert_allclose(out.data, to_numpy(out_t), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xg.grad, to_numpy(xt.grad), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, to_numpy(reference.weight.grad), rtol=1e-5, atol=1e-5)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, to_numpy(reference.bias.grad), rtol=1e-5, atol=1e-5)


def test_linear_accepts_numpy_and_keeps_leading_dims():
    layer = nn.Linear(3, 2, seed=0)
    x = np.ones((4, 5, 3), dtype=np.float32)
    assert layer(x).shape == (4, 5, 2)


def test_linear_wrong_feature_count_names_layer_and_shapes():
    layer = nn.Linear(64, 10, seed=0)
    with pytest.raises(ValueError, match=r"Linear\(in_features=64.*\(\.\.\., 64\).*\(8, 63\)"):
        layer(np.zeros((8, 63), dtype=np.float32))


def test_linear_rejects_bad_sizes_and_init():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        nn.Linear(3, 3, init="glorot")
    with pytest.raises(ValueError, match="seed or rng"):
        nn.Linear(3, 3, seed=1, rng=np.random.default_rng(1))


def test_same_seed_same_weights():
    a, b = nn.mlp([5, 4, 3], seed=7), nn.mlp([5, 4, 3], seed=7)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    c = nn.mlp([5, 4, 3], seed=8)
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


# ----- activations -------------------------------------------------------------------
ACTIVATIONS = [
    (nn.ReLU(), torch.relu),
    (nn.Sigmoid(), torch.sigmoid),
    (nn.Tanh(), torch.tanh),
    (nn.Arctan(), torch.arctan),
    (nn.Softmax(axis=-1), lambda t: torch.softmax(t, dim=-1)),
    (nn.Softmax(axis=0), lambda t: torch.softmax(t, dim=0)),
    (nn.LogSoftmax(axis=1), lambda t: torch.log_softmax(t, dim=1)),
]


@pytest.mark.parametrize("module, reference", ACTIVATIONS, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_activation_value_and_gradient_match_torch(module, reference):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=3.0, size=(5, 4))
    x[0, 0] = 0.7  # keep ReLU away from its kink at 0
    upstream = rng.normal(size=(5, 4))
    xg = gk_leaf(x)
    out = module(xg)
    out.backward(upstream)
    xt = torch_leaf(x)
    out_t = reference(xt)
    out_t.backward(torch.tensor(upstream, device=DEVICE))
    np.testing.assert_allclose(out.data, to_numpy(out_t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xg.grad, to_numpy(xt.grad), rtol=1e-10, atol=1e-12)


def test_arctan_is_a_custom_function_with_float32_output():
    out = F.arctan(Tensor(np.array([0.0, 1.0], dtype=np.float32), requires_grad=True))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, [0.0, math.pi / 4], rtol=1e-6)


# ----- losses ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    rng = np.random.default_rng(2)
    pred, target = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    pg, pt = gk_leaf(pred), torch_leaf(pred)
    loss = F.mse_loss(pg, target, reduction=reduction)
    loss_t = TF.mse_loss(pt, torch.tensor(target, device=DEVICE), reduction=reduction)
    upstream = rng.normal(size=loss.shape)
    loss.backward(upstream)
    loss_t.backward(torch.tensor(upstream, device=DEVICE))
    np.testing.assert_allclose(loss.data, to_numpy(loss_t), rtol=1e-10)
    np.testing.assert_allclose(pg.grad, to_numpy(pt.grad), rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 8), classes=st.integers(2, 6), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 999))
def test_cross_entropy_matches_torch(n, classes, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(n, classes))  # scale 30: log_softmax must be stable
    targets = rng.integers(0, classes, size=n)
    lg, lt = gk_leaf(logits), torch_leaf(logits)
    loss = F.cross_entropy(lg, targets)
    loss_t = TF.cross_entropy(lt, torch.tensor(targets, device=DEVICE))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
    np.testing.assert_allclose(lg.grad, to_numpy(lt.grad), rtol=1e-8, atol=1e-12)


def test_cross_entropy_accepts_tensor_targets_and_module_form():
    logits = np.random.default_rng(3).normal(size=(4, 3))
    targets = np.array([0, 2, 1, 2])
    direct = F.cross_entropy(gk_leaf(logits), targets).item()
    via_module = nn.CrossEntropyLoss()(gk_leaf(logits), Tensor(targets.astype(np.float32))).item()
    assert direct == pytest.approx(via_module)


def test_cross_entropy_bad_targets():
    logits = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"cross_entropy: targets must lie in \[0, 4\), got values in \[0, 4\]"):
        F.cross_entropy(logits, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"cross_entropy: targets must lie in \[0, 4\)"):
        F.cross_entropy(logits, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match=r"expected targets of shape \(3,\).*got \(2,\)"):
        F.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        F.cross_entropy(logits, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected scores of shape \(N, C\)"):
        F.cross_entropy(Tensor(np.zeros(4)), np.array([1]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, np.array([0, 1, 2]), reduction="avg")


def test_binary_cross_entropy_matches_torch():
    rng = np.random.default_rng(4)
    probs = rng.uniform(0.05, 0.95, size=(7, 2))
    targets = rng.integers(0, 2, size=(7, 2)).astype(np.float64)
    pg, pt = gk_leaf(probs), torch_leaf(probs)
    loss = F.binary_cross_entropy(pg, targets)
    loss_t = TF.binary_cross_entropy(pt, torch.tensor(targets, device=DEVICE))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
    np.testing.assert_allclose(pg.grad, to_numpy(pt.grad), rtol=1e-9)


def test_binary_cross_entropy_stays_finite_at_saturated_probabilities():
    loss = F.binary_cross_entropy(Tensor(np.array([0.0, 1.0]), requires_grad=True), np.array([1.0, 0.0]))
    assert np.isfinite(loss.item()) and loss.item() > 10


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 999), scale=st.sampled_from([1.0, 50.0]))
def test_binary_cross_entropy_with_logits_matches_torch(seed, scale):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(5, 3))  # scale 50: exp(50) must not overflow
    targets = rng.uniform(size=(5, 3))
    lg, lt = gk_leaf(logits), torch_leaf(logits)
    loss = F.binary_cross_entropy_with_logits(lg, targets)
    loss_t = TF.binary_cross_entropy_with_logits(lt, torch.tensor(targets, device=DEVICE))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
    np.testing.assert_allclose(lg.grad, to_numpy(lt.grad), rtol=1e-8, atol=1e-12)


def test_binary_cross_entropy_with_logits_gradient_at_zero_logit_matches_torch():
    # z = 0 is where training from zero weights starts; |z| has a kink there.
    logits = np.zeros((4,))
    targets = np.array([0.0, 1.0, 0.25, 1.0])
    lg, lt = gk_leaf(logits), torch_leaf(logits)
    F.binary_cross_entropy_with_logits(lg, targets).backward()
    TF.binary_cross_entropy_with_logits(lt, torch.tensor(targets, device=DEVICE)).backward()
    np.testing.assert_allclose(lg.grad, to_numpy(lt.grad), rtol=1e-12)
    np.testing.assert_allclose(lg.grad, (0.5 - targets) / 4, rtol=1e-12)  # closed form


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_multiclass_hinge_is_weston_watkins_equal_to_classes_times_torch(margin):
    rng = np.random.default_rng(5)
    n, classes = 6, 4
    scores = rng.normal(size=(n, classes))
    targets = rng.integers(0, classes, size=n)
    sg, st_ = gk_leaf(scores), torch_leaf(scores)
    loss = F.multiclass_hinge_loss(sg, targets, margin=margin)
    loss_t = classes * torch.nn.MultiMarginLoss(margin=margin)(st_, torch.tensor(targets, device=DEVICE))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10)
    np.testing.assert_allclose(sg.grad, to_numpy(st_.grad), rtol=1e-10, atol=1e-12)


def test_multiclass_hinge_hand_example():
    # CS231n's example: scores (3.2, 5.1, -1.7) with true class 0 give 2.9 + 0 = 2.9.
    loss = F.multiclass_hinge_loss(Tensor(np.array([[3.2, 5.1, -1.7]])), np.array([0]))
    assert loss.item() == pytest.approx(2.9, rel=1e-6)


def test_regression_losses_refuse_silent_broadcasting():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(4, 1\) and target shape \(4,\) differ"):
        F.mse_loss(Tensor(np.zeros((4, 1))), np.zeros(4))


def test_loss_modules_use_their_functions():
    rng = np.random.default_rng(6)
    z, t = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    assert nn.MSELoss(reduction="sum")(Tensor(z), t).item() == pytest.approx(F.mse_loss(Tensor(z), t, "sum").item())
    assert nn.BCEWithLogitsLoss()(Tensor(z), t).item() == pytest.approx(
        F.binary_cross_entropy(Tensor(z).sigmoid(), t).item(), rel=1e-5)
    assert repr(nn.MultiClassHingeLoss(margin=2.0)) == "MultiClassHingeLoss(margin=2.0, reduction='mean')"
    with pytest.raises(ValueError, match="MSELoss: reduction"):
        nn.MSELoss(reduction="max")


# ----- initialisation ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name, variance",
    [
        ("xavier_uniform", lambda fi, fo: 2.0 / (fi + fo)),
        ("xavier_normal", lambda fi, fo: 2.0 / (fi + fo)),
        ("he_uniform", lambda fi, fo: 2.0 / fi),
        ("he_normal", lambda fi, fo: 2.0 / fi),
    ],
)
def test_init_variance_matches_closed_form(name, variance):
    fan_in, fan_out = 400, 300
    w = gk_init.INITIALIZERS[name]((fan_out, fan_in), np.random.default_rng(0))
    assert w.shape == (fan_out, fan_in) and w.dtype == np.float32
    # 120000 draws: the sample variance is within ~1% of the truth; allow 3%.
    assert np.var(w) == pytest.approx(variance(fan_in, fan_out), rel=0.03)
    assert abs(np.mean(w)) < 0.02 * math.sqrt(variance(fan_in, fan_out))  # ~7 standard errors
    if "uniform" in name:
        assert np.abs(w).max() <= math.sqrt(3 * variance(fan_in, fan_out)) + 1e-7


def test_init_needs_a_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        gk_init.he_normal((3, 3), rng=0)


# ----- Module bookkeeping ------------------------------------------------------------
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3, seed=0), nn.Tanh())
        self.head = nn.Linear(3, 2, seed=1)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return self.head(self.encoder(x)) * self.scale


def test_named_parameters_are_dotted_and_ordered():
    model = TwoLayer()
    names = [name for name, _ in model.named_parameters()]
    # A module's own parameters come first, then its children's (as in torch).
    assert names == ["scale", "encoder.0.weight", "encoder.0.bias", "head.weight", "head.bias"]
    assert len(model.parameters()) == 5
    assert model.num_parameters() == 4 * 3 + 3 + 3 * 2 + 2 + 1


def test_shared_parameter_is_listed_once():
    model = nn.Module()
    layer = nn.Linear(2, 2, seed=0)
    model.a, model.b = layer, layer
    assert len(model.parameters()) == 2


def test_ops_on_parameters_give_plain_tensors():
    layer = nn.Linear(2, 3, seed=0)
    assert type(layer.weight.T) is Tensor
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad


def test_train_eval_propagate():
    model = TwoLayer()
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_clears_every_parameter():
    model = TwoLayer()
    model(np.ones((2, 4), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_state_dict_round_trip_and_copies():
    source, target = TwoLayer(), TwoLayer()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(0).normal(size=p.shape)
    state = source.state_dict()
    target.load_state_dict(state)
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(source(x).data, target(x).data)
    state["head.bias"][...] = 99.0  # a state_dict holds copies, not the live arrays
    assert not np.any(source.head.bias.data == 99.0)


def test_state_dict_loads_into_torch_with_same_names():
    model = nn.mlp([4, 5, 3], seed=0)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(model(x).data, reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors_name_the_keys_and_shapes():
    model = TwoLayer()
    state = model.state_dict()
    del state["head.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['head.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["head.weight"] = np.zeros((3, 3))
    before = model.encoder[0].weight.data.copy()
    state["encoder.0.weight"] = np.full((3, 4), 5.0)
    with pytest.raises(ValueError, match=r"'head.weight' expects shape \(2, 3\), got \(3, 3\)"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model.encoder[0].weight.data, before)  # nothing half-loaded


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
def test_modules_copy_and_pickle(clone):
    # a5 ships models to Ray workers by pickling; a6 prunes a deep copy.
    model = TwoLayer()
    twin = clone(model)
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_array_equal(model(x).data, twin(x).data)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in model.named_parameters()]
    twin.head.weight.data[...] = 0.0
    assert np.any(model.head.weight.data != 0.0)  # a real copy, not shared arrays


def test_repr_looks_like_torch():
    model = nn.Sequential(nn.Linear(64, 128, seed=0), nn.ReLU(), nn.Linear(128, 10, bias=False, seed=0))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=64, out_features=128, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=128, out_features=10, bias=False)\n"
        ")"
    )
    nested = repr(TwoLayer())
    assert "(encoder): Sequential(\n    (0): Linear(in_features=4" in nested


def test_module_without_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match="must call super"):
        Broken()


def test_sequential_indexing_and_mlp_structure():
    model = nn.mlp([3, 8, 8, 2], activation=nn.Tanh, seed=0)
    assert len(model) == 5 and isinstance(model[1], nn.Tanh) and isinstance(model[-1], nn.Linear)
    with pytest.raises(IndexError, match="out of range"):
        model[5]
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.mlp([3])


def test_functional_offers_every_activation_and_loss_function():
    # activations and losses live apart (each its own concept); gradkit.nn.functional and
    # gradkit.nn.F are the one namespace notebooks use, and offer the same objects
    from gradkit.nn import activation_functions, functional, loss_functions

    assert F is functional
    for module in (activation_functions, loss_functions):
        for name in module.__all__:
            assert getattr(functional, name) is getattr(module, name), name
