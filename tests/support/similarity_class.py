"""A generated a1_gradients class for the similarity report: honest students and disguised copies.

Honest students answer each solution (each method of ``Dual`` and ``Value``
too) with one of at least three independent versions: the reference, a stored
wrong answer where one touches it (``mutants.yaml``) and hand-written variants
below (other algorithms and styles), plus a student's small habits (the operands
of a sum or product written the other way round). Copies are an honest student's
notebook put through the transformations a copier uses: renaming, re-ordering
functions, comments and whitespace, dead code, functions split in two, loops
rewritten, a cell split in two. Used by ``tests/autograder/integration/test_similarity.py`` and
``bench/bench_similarity.py``.
"""

from __future__ import annotations

import ast
import builtins
import copy
import random
import re
import textwrap
from pathlib import Path

import nbformat
import yaml

from gradkit_autograder.grading.class_builder import reference_notebook
from gradkit_autograder.state.conventions import solution_delimiters

A1 = "a1_gradients"
NOTEBOOK = "gradients.ipynb"
STUB = re.compile(r"^( *)# YOUR CODE HERE\n\1raise NotImplementedError\(\)\n?", re.M)

# Hand-written answers: cell -> {enclosing function -> [bodies]}; each body is what
# replaces the stub, written at column 0.
VARIANTS = {
    "forward_difference": {"forward_difference": [
        "fx = f(x)\nfxh = f(x + h)\nreturn (fxh - fx) / h",
        "slope = f(x + h) - f(x)\nslope /= h\nreturn slope"]},
    "central_difference": {"central_difference": [
        "return 0.5 * (f(x + h) - f(x - h)) / h",
        "up, down = f(x + h), f(x - h)\nreturn (up - down) / (h + h)"]},
    "optimal_step": {"optimal_step": [
        'eps = np.finfo(float).eps\npowers = {"forward": 0.5, "central": 1 / 3}\nif method not in powers:\n'
        '    raise ValueError(f"unknown method {method}")\nreturn eps ** powers[method]',
        'machine_eps = np.finfo(np.float64).eps\nif method == "forward":\n    h = np.sqrt(machine_eps)\n'
        'elif method == "central":\n    h = np.cbrt(machine_eps)\nelse:\n'
        '    raise ValueError("method must be forward or central, not " + str(method))\nreturn float(h)']},
    "numerical_gradient": {"numerical_gradient": [
        "x = np.asarray(x, dtype=float).copy()\nflat = x.reshape(-1)\ng = np.empty_like(flat)\n"
        "for i in range(flat.size):\n    keep = flat[i]\n    flat[i] = keep + h\n    up = f(x)\n"
        "    flat[i] = keep - h\n    down = f(x)\n    flat[i] = keep\n    g[i] = (up - down) / (2 * h)\n"
        "return g.reshape(x.shape)",
        "xc = x.astype(float)\nresult = np.zeros(xc.shape)\nit = np.nditer(xc, flags=['multi_index'])\n"
        "while not it.finished:\n    idx = it.multi_index\n    step = np.zeros(xc.shape)\n    step[idx] = h\n"
        "    result[idx] = (f(xc + step) - f(xc - step)) / (2 * h)\n    it.iternext()\nreturn result"]},
    "logistic_loss": {"logistic_loss": [
        "logits = np.dot(X, w) + b\nlosses = np.logaddexp(0, logits) - y * logits\nreturn float(losses.sum() / len(y))",
        "z = X.dot(w) + b\nsoftplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))\n"
        "return float(np.mean(softplus - y * z))"]},
    "logistic_gradients": {"logistic_gradients": [
        "p = sigmoid(X.dot(w) + b)\nerr = p - y\nN = len(y)\ndw = X.T.dot(err) / N\ndb = np.mean(err)\n"
        "return dw, float(db)",
        "n_examples = X.shape[0]\ndiff = sigmoid(np.matmul(X, w) + b) - y\n"
        "grad_w = np.einsum('ij,i->j', X, diff) / n_examples\nreturn grad_w, float(np.sum(diff)) / n_examples"]},
    "gradient_check": {"gradient_check": [
        "x = np.array(x, dtype=float)\na = np.array(grad_f(np.copy(x)), dtype=float)\n"
        "num = numerical_gradient(f, x, h)\nif a.shape != x.shape:\n    raise ValueError('wrong shape')\n"
        "scale = np.maximum(np.maximum(np.abs(a), np.abs(num)), 1.0)\nerr = np.abs(a - num) / scale\n"
        "flat_index = int(np.argmax(err))\nidx = np.unravel_index(flat_index, err.shape)\n"
        "return float(err[idx]), tuple(int(v) for v in idx)",
        "x = np.asarray(x, dtype=float)\nanalytic = np.asarray(grad_f(x.copy()), dtype=float)\n"
        "if analytic.shape != x.shape:\n    raise ValueError(f'shape {analytic.shape} != {x.shape}')\n"
        "numeric = numerical_gradient(f, x, h)\nbest, where = -1.0, None\nfor index in np.ndindex(x.shape):\n"
        "    a, n = analytic[index], numeric[index]\n    e = abs(a - n) / max(1.0, abs(a), abs(n))\n"
        "    if e > best:\n        best, where = e, index\nreturn float(best), tuple(int(i) for i in where)"]},
    "planted_bug": {"": [
        "planted_bug_index = where[0]",
        "idx = int(np.asarray(where).ravel()[0])\nplanted_bug_index = idx"]},
    "topological_order": {"topological_order": [
        "indegree = {}\nchildren = {n: [] for n in graph}\nfor n, ins in graph.items():\n    indegree[n] = len(ins)\n"
        "    for i in ins:\n        if i not in graph:\n            raise ValueError(f'unknown input {i} of {n}')\n"
        "        children[i].append(n)\nresult = []\nfrontier = sorted(n for n in graph if indegree[n] == 0)\n"
        "while frontier:\n    n = frontier.pop(0)\n    result.append(n)\n    for c in children[n]:\n"
        "        indegree[c] -= 1\n        if indegree[c] == 0:\n            frontier.append(c)\n    frontier.sort()\n"
        "if len(result) != len(graph):\n    raise ValueError('cycle')\nreturn result",
        "for node, inputs in graph.items():\n    for i in inputs:\n        if i not in graph:\n"
        "            raise ValueError(f'{node} uses unknown {i}')\ndone = []\nplaced = set()\n"
        "while len(done) < len(graph):\n"
        "    candidates = [n for n in graph if n not in placed and all(i in placed for i in graph[n])]\n"
        "    if not candidates:\n        raise ValueError('the graph has a cycle')\n    nxt = min(candidates)\n"
        "    done.append(nxt)\n    placed.add(nxt)\nreturn done"]},
    "derivative": {"derivative": [
        "d = f(Dual(x, 1.0))\nreturn d.tangent",
        "seed = Dual(float(x), tangent=1.0)\nresult = Dual.lift(f(seed))\nreturn float(result.tangent)"]},
    "sigmoid_neuron": {"sigmoid_neuron": [
        "a, b, c, d, e = Value(w0), Value(x0), Value(w1), Value(x1), Value(w2)\nz = a * b + c * d + e\n"
        "out = 1 / (1 + (-z).exp())\nout.backward()\nreturn out.data, [a.grad, b.grad, c.grad, d.grad, e.grad], out",
        "vals = [Value(v) for v in (w0, x0, w1, x1, w2)]\ns = vals[0] * vals[1]\ns = s + vals[2] * vals[3]\n"
        "s = s + vals[4]\nden = (s * -1).exp() + 1\nf = den ** -1\nf.backward()\ngrads = [v.grad for v in vals]\n"
        "return f.data, grads, f"]},
    "jacobian_forward": {"jacobian_forward": [
        "n = len(x)\nJ = None\nfor j in range(n):\n    seeds = [Dual(x[i], 0.0) for i in range(n)]\n"
        "    seeds[j] = Dual(x[j], 1.0)\n    outs = f(seeds)\n    if J is None:\n        J = np.zeros((len(outs), n))\n"
        "    for i, o in enumerate(outs):\n        J[i, j] = Dual.lift(o).tangent\nreturn J, n",
        "cols = [[Dual.lift(o).tangent for o in f([Dual(v, float(i == j)) for i, v in enumerate(x)])]\n"
        "        for j in range(len(x))]\nreturn np.array(cols, dtype=float).T.reshape(-1, len(x)), len(x)"]},
    "jacobian_reverse": {"jacobian_reverse": [
        "leaves = [Value(v) for v in x]\nouts = f(leaves)\nm = len(outs)\nJ = np.zeros((m, len(x)))\n"
        "for i in range(m):\n    if i > 0:\n        leaves = [Value(v) for v in x]\n        outs = f(leaves)\n"
        "    Value.lift(outs[i]).backward()\n    J[i, :] = [leaf.grad for leaf in leaves]\nreturn J, m",
        "rows, count, i = [], 0, 0\nwhile True:\n    leaves = [Value(v) for v in x]\n    outs = f(leaves)\n"
        "    count += 1\n    Value.lift(outs[i]).backward()\n    rows.append([l.grad for l in leaves])\n    i += 1\n"
        "    if i == len(outs):\n        break\nreturn np.array(rows, dtype=float).reshape(len(outs), len(x)), count"]},
    "dual_class": {
        "lift": ["if isinstance(other, Dual):\n    return other\nreturn Dual(float(other))"],
        "__add__": ["o = Dual.lift(other)\nv = self.value + o.value\nt = self.tangent + o.tangent\nreturn Dual(v, t)"],
        "__radd__": ["return Dual.lift(other) + self"],
        "__neg__": ["return self * -1.0"],
        "__sub__": ["o = Dual.lift(other)\nreturn Dual(self.value - o.value, self.tangent - o.tangent)"],
        "__rsub__": ["return -(self - other)"],
        "__mul__": ["o = Dual.lift(other)\nreturn Dual(self.value * o.value, self.tangent * o.value + o.tangent * self.value)"],
        "__rmul__": ["return Dual.lift(other) * self"],
        "__truediv__": ["o = Dual.lift(other)\n"
                        "return Dual(self.value / o.value, (self.tangent * o.value - self.value * o.tangent) / o.value ** 2)"],
        "__rtruediv__": ["o = Dual.lift(other)\nreturn o * self ** -1"],
        "__pow__": ["p = exponent\nreturn Dual(self.value ** p, p * self.value ** (p - 1) * self.tangent)"],
        "exp": ["return Dual(math.exp(self.value), math.exp(self.value) * self.tangent)"],
        "log": ["v = self.value\nreturn Dual(math.log(v), self.tangent * (1.0 / v))"],
        "sin": ["s, c = math.sin(self.value), math.cos(self.value)\nreturn Dual(s, c * self.tangent)"],
        "cos": ["return Dual(math.cos(self.value), self.tangent * -math.sin(self.value))"]},
    "value_class": {
        "lift": ["return other if isinstance(other, Value) else Value(other)"],
        "__add__": ["other = other if isinstance(other, Value) else Value(other)\n"
                    "result = Value(self.data + other.data, children=(self, other), op='+')\n"
                    "def backward_fn():\n    self.grad += result.grad\n    other.grad += result.grad\n"
                    "result._backward = backward_fn\nreturn result"],
        "__radd__": ["return Value.lift(other) + self"],
        "__mul__": ["other = Value.lift(other)\nresult = Value(self.data * other.data, (self, other), '*')\n"
                    "def backward_fn():\n    self.grad += result.grad * other.data\n"
                    "    other.grad += result.grad * self.data\nresult._backward = backward_fn\nreturn result"],
        "__rmul__": ["return Value.lift(other) * self"],
        "__neg__": ["return self * -1"],
        "__sub__": ["return self + (-1) * Value.lift(other)"],
        "__rsub__": ["return (-self) + other"],
        "__pow__": ["base = self.data\nresult = Value(base ** exponent, (self,), 'pow')\ndef backward_fn():\n"
                    "    self.grad += result.grad * exponent * base ** (exponent - 1)\n"
                    "result._backward = backward_fn\nreturn result"],
        "__truediv__": ["return self * (Value.lift(other) ** -1.0)"],
        "__rtruediv__": ["return (self ** -1.0) * other"],
        "_unary": ["node = Value(data, children=(self,), op=op)\ndef backward_fn():\n"
                   "    self.grad += node.grad * local_derivative\nnode._backward = backward_fn\nreturn node"],
        "exp": ["return self._unary(math.exp(self.data), math.exp(self.data), 'exp')"],
        "log": ["x = self.data\nreturn self._unary(math.log(x), 1 / x, 'log')"],
        "sin": ["x = self.data\nreturn self._unary(math.sin(x), math.cos(x), 'sin')"],
        "tanh": ["e2 = math.exp(2 * self.data)\nt = (e2 - 1) / (e2 + 1)\nreturn self._unary(t, 1 - t ** 2, 'tanh')"],
        "relu": ["if self.data > 0:\n    return self._unary(self.data, 1.0, 'relu')\n"
                 "return self._unary(0.0, 0.0, 'relu')"],
        "backward": ["topo, seen = [], set()\ndef build(v):\n    if v not in seen:\n        seen.add(v)\n"
                     "        for c in v.children:\n            build(c)\n        topo.append(v)\nbuild(self)\n"
                     "self.grad = 1.0\nfor v in reversed(topo):\n    v._backward()",
                     "counts = {}\nstack = [self]\nwhile stack:\n    n = stack.pop()\n    for c in n.children:\n"
                     "        counts[id(c)] = counts.get(id(c), 0) + 1\n        if counts[id(c)] == 1:\n"
                     "            stack.append(c)\nself.grad = 1.0\nready = [self]\nwhile ready:\n    n = ready.pop()\n"
                     "    n._backward()\n    for c in n.children:\n        counts[id(c)] -= 1\n"
                     "        if counts[id(c)] == 0:\n            ready.append(c)"]},
}


# --- answers: the pools of independent versions ------------------------------------------------

def _enclosing_function(text: str, offset: int) -> str:
    names = re.findall(r"^\s*def (\w+)\(", text[:offset], re.M)
    return names[-1] if names else ""


def reference_bodies(source_nb: Path) -> dict[str, list[tuple[str, str]]]:
    """cell -> [(enclosing function, reference body at column 0)] between the solution markers."""
    begin, end = solution_delimiters({})
    nb = nbformat.read(str(source_nb), as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        pattern = re.compile(rf"^( *)### {re.escape(begin)}\n(.*?)^ *### {re.escape(end)}\n?", re.M | re.S)
        out[meta["grade_id"]] = [(_enclosing_function(cell.source, m.start()), textwrap.dedent(m.group(2)).rstrip())
                                 for m in pattern.finditer(cell.source)]
    return out


MUTANTS_YAML = Path(__file__).resolve().parents[2] / "assignments" / "tools" / "sources" / f"{A1}.mutants.yaml"


def answer_pools(source_dir: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """cell -> per stub (function, [versions]): the reference, a wrong answer touching it, the variants."""
    pools = {}
    for cell, stubs in reference_bodies(source_dir / NOTEBOOK).items():
        pools[cell] = [(fn, [body] + VARIANTS.get(cell, {}).get(fn, [])) for fn, body in stubs]
    for m in yaml.safe_load(MUTANTS_YAML.read_text()):
        for fn, versions in pools.get(m["cell"], []):
            if m["old"] in versions[0]:
                versions.append(versions[0].replace(m["old"], m["new"]))
    return pools


def fill(released: str, bodies: list[str]) -> str:
    """The released cell with its stubs, in order, replaced by ``bodies`` (indented like the stub)."""
    parts = iter(bodies)
    return STUB.sub(lambda m: textwrap.indent(next(parts), m.group(1)) + "\n", released)


class _SwapOne(ast.NodeTransformer):
    """A student's habit: the operands of one sum or product the other way round."""

    def __init__(self, rng: random.Random):
        self.rng, self.done = rng, False

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not self.done and isinstance(node.op, (ast.Add, ast.Mult)) and self.rng.random() < 0.5:
            node.left, node.right, self.done = node.right, node.left, True
        return node


class _NameResult(ast.NodeTransformer):
    """A student's habit: ``return E`` written as ``result = E`` then ``return result``."""

    def visit_Return(self, node):
        if node.value is None or isinstance(node.value, ast.Name):
            return node
        return [
            ast.Assign(targets=[ast.Name("result", ast.Store())], value=node.value, lineno=0),
            ast.Return(ast.Name("result", ast.Load()))]


def habit(body: str, rng: random.Random) -> str:
    """The body as this student writes it: sometimes a swapped sum or product, a named result."""
    swap, name = rng.random() < 0.5, rng.random() < 0.3
    if not (swap or name):
        return body
    tree = ast.parse(body)
    if swap:
        _SwapOne(rng).visit(tree)
    if name:
        _NameResult().visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def honest_answers(pools, release_cells: dict[str, str], rng: random.Random) -> dict[str, str]:
    """One honest student: each stub answered by a version drawn at random, with a habit."""
    answers = {}
    for cell, stubs in pools.items():
        answers[cell] = fill(release_cells[cell], [habit(rng.choice(versions), rng) for _, versions in stubs])
    return answers


# --- copies: what a copier does to a friend's notebook ----------------------------------------

class _Rename(ast.NodeTransformer):
    def __init__(self, keep: set[str], rng: random.Random):
        self.keep, self.new, self.rng = keep, {}, rng

    def _name(self, old: str) -> str:
        if old in self.keep or old.startswith("__"):
            return old
        return self.new.setdefault(old, f"{self.rng.choice(['tmp', 'val', 'my', 'q'])}_{len(self.new)}")

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        return node

    def visit_FunctionDef(self, node):
        node.name = self._name(node.name)
        self.generic_visit(node)
        return node


class _Loops(ast.NodeTransformer):
    """``for v in xs: body`` -> an index and a while loop."""

    def __init__(self):
        self.count = 0

    def visit_For(self, node):
        self.generic_visit(node)
        self.count += 1
        items, k = f"_items{self.count}", f"_k{self.count}"
        head = ast.parse(f"{items} = list(X)\n{k} = 0").body
        head[0].value.args = [node.iter]
        loop = ast.parse(f"while {k} < len({items}):\n    T = {items}[{k}]\n    {k} += 1").body[0]
        loop.body[0].targets = [node.target]
        loop.body = loop.body[:2] + node.body
        return head + [loop]


def _functions(body: list) -> list:
    return [n for n in body if isinstance(n, ast.FunctionDef)]


SHARE = 0.5   # the share of functions a copier gives dead code, or splits


def _dead_code(tree, rng: random.Random) -> None:
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and rng.random() < SHARE]:
        where = rng.randrange(len(fn.body) + 1) if not isinstance(fn.body[0], ast.Expr) else 1
        fn.body[where:where] = ast.parse(f"_unused = [{rng.randrange(100)}] * 2\nif len(_unused) > 99:\n"
                                         f"    print('never')").body


def _split_functions(tree, rng: random.Random) -> None:
    """Some functions become a helper holding the body and a wrapper calling it."""
    for holder in [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        out = []
        for node in holder.body:
            if isinstance(node, ast.FunctionDef) and len(node.body) > 1 and not node.decorator_list \
                    and rng.random() < SHARE:
                helper = copy.deepcopy(node)
                helper.name = f"_{node.name.strip('_')}_part"
                names = [a.arg for a in node.args.args]
                call = f"{names[0]}.{helper.name}({', '.join(names[1:])})" if isinstance(holder, ast.ClassDef) \
                    else f"{helper.name}({', '.join(names)})"
                node.body = ast.parse(f"return {call}").body
                out += [helper, node]
            else:
                out.append(node)
        holder.body = out


def _reorder(tree, rng: random.Random) -> None:
    for holder in [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        slots = [i for i, n in enumerate(holder.body) if isinstance(n, ast.FunctionDef)]
        shuffled = [holder.body[i] for i in slots]
        rng.shuffle(shuffled)
        for i, node in zip(slots, shuffled):
            holder.body[i] = node


TRANSFORMS = ("rename", "reorder", "comments", "dead_code", "split_functions", "loops", "split_cell")
DISGUISES = {  # name -> the transformations applied
    "renamed": ("rename", "comments"),
    "reordered": ("rename", "reorder"),
    "dead_code": ("rename", "dead_code"),
    "split": ("rename", "split_functions", "split_cell"),
    "loops": ("rename", "loops"),
    "everything": TRANSFORMS,
}


def disguise(source: str, keep: set[str], how: tuple[str, ...], rng: random.Random) -> str:
    """One solution cell put through the given transformations."""
    tree = ast.parse(source)
    if "reorder" in how:
        _reorder(tree, rng)
    if "loops" in how:
        _Loops().visit(tree)
    if "split_functions" in how:
        _split_functions(tree, rng)
    if "dead_code" in how:
        _dead_code(tree, rng)
    if "rename" in how:
        _Rename(keep, rng).visit(tree)
    ast.fix_missing_locations(tree)
    text = ast.unparse(tree)
    if "comments" in how:
        text = "# my solution\n" + text.replace("\n", "\n\n", 3)
    return text


def protected_names(release_sources: list[str]) -> set[str]:
    """Names the release uses (the tests call them) and Python's own: a copier keeps them."""
    names = set(dir(builtins)) | {"self", "np", "math"}
    for source in release_sources:
        names |= set(re.findall(r"[A-Za-z_]\w*", source))
    return names


# --- notebooks -----------------------------------------------------------------------------------

def release_cells(release_nb: Path) -> dict[str, str]:
    nb = nbformat.read(str(release_nb), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def notebook(source_dir: Path, release_dir: Path, answers: dict[str, str], split: set[str] = frozenset()):
    """The reference notebook with the solution cells replaced; cells in ``split`` cut in two."""
    nb = reference_notebook(source_dir / NOTEBOOK, release_dir / NOTEBOOK)
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        cells.append(cell)
        if grade_id in split:
            lines = cell.source.splitlines()
            cut = max((i for i, ln in enumerate(lines) if ln and not ln[0].isspace()), default=0)
            if cut > 0:
                cell.source = "\n".join(lines[:cut])
                cells.append(nbformat.v4.new_code_cell("\n".join(lines[cut:])))
    nb.cells = cells
    return nb


def build(source_dir: Path, release_dir: Path, honest: int, copies_of: int, seed: int = 0):
    """(honest, copies): student -> notebook; copies: name -> (original, notebook).

    The first ``copies_of`` honest students are each copied once per disguise.
    """
    rng = random.Random(seed)
    pools = answer_pools(source_dir)
    released = release_cells(release_dir / NOTEBOOK)
    keep = protected_names([s for s in released.values()] +
                           [c.source for c in nbformat.read(str(release_dir / NOTEBOOK), as_version=4).cells
                            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("solution")])
    answers = {f"honest{i:03d}": honest_answers(pools, released, rng) for i in range(honest)}
    students = {s: notebook(source_dir, release_dir, a) for s, a in answers.items()}
    copies = {}
    for original in list(answers)[:copies_of]:
        for name, how in DISGUISES.items():
            changed = {cell: disguise(src, keep, how, rng) for cell, src in answers[original].items()}
            split = {c for c in changed if rng.random() < 0.5} if "split_cell" in how else set()
            copies[f"copy-{name}-of-{original}"] = (original, notebook(source_dir, release_dir, changed, split))
    return students, copies
