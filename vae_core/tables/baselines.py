"""Unsupervised baselines that travel with a fraud VAE: PCA reconstruction error and IsolationForest.

Both are fitted with scikit-learn on the model's preprocessed training normals and stored as JSON
(arrays as base64 little-endian bytes, never pickle); scoring is plain NumPy and gives
scikit-learn's numbers. Scores are (n,) with higher = more anomalous, like the VAE's.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from vae_core.errors import ConfigError, DataError

PCA_COMPONENTS = 10  # the strongest PCA on the subset (robust scaling), see bench/results/fraud_quality.json
ISOLATION_TREES = 100  # scikit-learn's default forest


def _encode(array: np.ndarray, dtype: str) -> str:
    little_endian = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return base64.b64encode(little_endian.tobytes()).decode("ascii")


def _decode(text: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """base64 text → array of `shape`; a ConfigError when the text does not hold exactly that."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"A stored baseline array is not base64 text ({exc}).") from exc
    item = np.dtype(dtype).newbyteorder("<")
    if len(raw) != item.itemsize * int(np.prod(shape)):
        raise ConfigError(f"A stored baseline array holds {len(raw)} bytes where {shape} {dtype} values were expected.")
    return np.frombuffer(raw, dtype=item).astype(dtype).reshape(shape)


def _check_rows(x: np.ndarray, n_features: int) -> np.ndarray:
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != n_features:
        raise DataError(f"Baseline scoring needs rows of {n_features} features, got shape {values.shape}.")
    return values


@dataclass(frozen=True, eq=False)
class PCABaseline:
    """Squared distance from the span of the top principal components of the training rows.

    components: (k, d) orthonormal rows; mean: (d,). score: x (n, d) → (n,).
    """

    components: np.ndarray
    mean: np.ndarray

    @property
    def name(self) -> str:
        return f"PCA({len(self.components)})"

    @property
    def n_features(self) -> int:
        return self.mean.size

    @classmethod
    def fit(cls, x: np.ndarray, n_components: int = PCA_COMPONENTS) -> PCABaseline:
        """Fit on training rows x (n, d); `n_components` is capped at min(n, d)."""
        from sklearn.decomposition import PCA

        x = np.asarray(x, dtype=np.float64)
        pca = PCA(min(n_components, *x.shape), random_state=0).fit(x)
        return cls(pca.components_.copy(), pca.mean_.copy())

    def score(self, x: np.ndarray) -> np.ndarray:
        centred = _check_rows(x, self.n_features) - self.mean
        residual = centred - (centred @ self.components.T) @ self.components
        return (residual ** 2).sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        k, d = self.components.shape
        return {"kind": "pca", "n_components": k, "n_features": d,
                "components": _encode(self.components, "float64"), "mean": _encode(self.mean, "float64")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PCABaseline:
        k, d = int(data["n_components"]), int(data["n_features"])
        return cls(_decode(data["components"], "float64", (k, d)), _decode(data["mean"], "float64", (d,)))


def _average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """Mean path length of an unsuccessful search in a binary search tree of n samples (as in
    scikit-learn's IsolationForest): 0 for n ≤ 1, 1 for n = 2, else 2(ln(n − 1) + γ) − 2(n − 1)/n."""
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass(frozen=True, eq=False)
class IsolationTree:
    """One fitted isolation tree over the full feature vector. Arrays are (n_nodes,); a leaf has
    children −1; a row goes left when x[feature] (as float32, like scikit-learn) ≤ threshold."""

    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    n_node_samples: np.ndarray

    def path_lengths(self) -> np.ndarray:
        """(n_nodes,) depth of each node (root 1) + average path length of its samples − 1: the
        isolation depth of a row that ends in that node."""
        depth = np.zeros(len(self.feature), np.float64)
        depth[0], level = 1.0, np.array([0])
        while level.size:
            level = level[self.children_left[level] >= 0]
            children = np.concatenate([self.children_left[level], self.children_right[level]])
            depth[children] = np.tile(depth[level], 2) + 1.0
            level = children
        return depth + _average_path_length(self.n_node_samples) - 1.0

    def apply(self, x32: np.ndarray) -> np.ndarray:
        """Leaf index per row: x32 (n, d) float32 → (n,)."""
        node = np.zeros(len(x32), np.int64)
        rows = np.arange(len(x32))
        while True:
            inner = self.children_left[node] >= 0
            if not inner.any():
                return node
            at = node[inner]
            left = x32[rows[inner], self.feature[at]] <= self.threshold[at]
            node[inner] = np.where(left, self.children_left[at], self.children_right[at])


@dataclass(frozen=True, eq=False)
class IsolationForestBaseline:
    """scikit-learn's IsolationForest as arrays: score(x) = 2^(−mean isolation depth / c(ψ)), i.e.
    −IsolationForest.score_samples(x), where ψ = `max_samples` rows were drawn per tree. x (n, d) → (n,)."""

    trees: tuple[IsolationTree, ...]
    max_samples: int
    n_features: int
    name = "IsolationForest"

    @classmethod
    def fit(cls, x: np.ndarray, n_estimators: int = ISOLATION_TREES, seed: int = 0) -> IsolationForestBaseline:
        """Fit scikit-learn's IsolationForest(random_state=seed) on training rows x (n, d) and export it."""
        from sklearn.ensemble import IsolationForest

        x = np.asarray(x, dtype=np.float64)
        forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(x)
        return cls.from_sklearn(forest)

    @classmethod
    def from_sklearn(cls, forest) -> IsolationForestBaseline:
        """Export a fitted sklearn IsolationForest; its trees' feature indices are mapped through
        each tree's feature subset, so every tree reads the full feature vector."""
        trees = []
        for estimator, features in zip(forest.estimators_, forest.estimators_features_):
            tree = estimator.tree_
            leaf = tree.children_left < 0
            feature = np.where(leaf, -1, np.asarray(features)[np.maximum(tree.feature, 0)])
            trees.append(IsolationTree(tree.children_left.astype(np.int64), tree.children_right.astype(np.int64),
                                       feature.astype(np.int64), tree.threshold.astype(np.float64),
                                       tree.n_node_samples.astype(np.int64)))
        return cls(tuple(trees), int(forest._max_samples), int(forest.n_features_in_))

    def score(self, x: np.ndarray) -> np.ndarray:
        x32 = _check_rows(x, self.n_features).astype(np.float32)
        depths = np.zeros(len(x32), np.float64)
        for tree in self.trees:  # summed tree by tree, in scikit-learn's order
            depths += tree.path_lengths()[tree.apply(x32)]
        denominator = len(self.trees) * _average_path_length(np.array([self.max_samples]))[0]
        return 2.0 ** -np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)

    def to_dict(self) -> dict[str, Any]:
        sizes = np.array([len(t.feature) for t in self.trees])
        joined = {key: np.concatenate([getattr(t, key) for t in self.trees])
                  for key in ("children_left", "children_right", "feature", "threshold", "n_node_samples")}
        return {"kind": "isolation_forest", "max_samples": self.max_samples, "n_features": self.n_features,
                "n_nodes": _encode(sizes, "int32"), "n_trees": len(self.trees),
                "children_left": _encode(joined["children_left"], "int32"),
                "children_right": _encode(joined["children_right"], "int32"),
                "feature": _encode(joined["feature"], "int16"),
                "threshold": _encode(joined["threshold"], "float64"),
                "n_node_samples": _encode(joined["n_node_samples"], "int32")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsolationForestBaseline:
        n_trees, n_features = int(data["n_trees"]), int(data["n_features"])
        sizes = _decode(data["n_nodes"], "int32", (n_trees,)).astype(np.int64)
        total = int(sizes.sum())
        arrays = {key: _decode(data[key], dtype, (total,)).astype(np.float64 if dtype == "float64" else np.int64)
                  for key, dtype in (("children_left", "int32"), ("children_right", "int32"), ("feature", "int16"),
                                     ("threshold", "float64"), ("n_node_samples", "int32"))}
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        trees = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            tree = IsolationTree(**{key: values[start:stop] for key, values in arrays.items()})
            _check_tree(tree, n_features)
            trees.append(tree)
        return cls(tuple(trees), int(data["max_samples"]), n_features)


def _check_tree(tree: IsolationTree, n_features: int) -> None:
    """A stored tree must be a tree over n_features whose children follow their parent."""
    n = len(tree.feature)
    inner = tree.children_left >= 0
    nodes = np.arange(n)
    ok = (n > 0 and ((tree.children_right >= 0) == inner).all()
          and (tree.children_left[inner] > nodes[inner]).all() and (tree.children_right[inner] > nodes[inner]).all()
          and (tree.children_left[inner] < n).all() and (tree.children_right[inner] < n).all()
          and (tree.feature[inner] >= 0).all() and (tree.feature[inner] < n_features).all())
    if not ok:
        raise ConfigError("A stored isolation tree is malformed (bad child or feature indices).")


Baseline = PCABaseline | IsolationForestBaseline
_KINDS: dict[str, type] = {"pca": PCABaseline, "isolation_forest": IsolationForestBaseline}


def fit_baselines(x_train: np.ndarray, seed: int = 0) -> tuple[Baseline, ...]:
    """PCA(10) and IsolationForest fitted on preprocessed training normals x_train (n, d)."""
    return PCABaseline.fit(x_train), IsolationForestBaseline.fit(x_train, seed=seed)


def baseline_from_dict(data: dict[str, Any]) -> Baseline:
    """Rebuild a stored baseline; ConfigError when the entry is not one."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in _KINDS:
        raise ConfigError(f"Unknown stored baseline kind {kind!r}; this app knows {', '.join(_KINDS)}.")
    try:
        return _KINDS[kind].from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"A stored {kind} baseline is incomplete ({exc}).") from exc
