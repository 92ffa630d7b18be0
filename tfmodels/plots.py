"""PNG figures as bytes, drawn with matplotlib's object API (no pyplot state is touched; no files written)."""

from __future__ import annotations

import io
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def confusion_matrix_png(matrix: np.ndarray, title: str) -> bytes:
    """A confusion matrix (rows: true class, columns: predicted class) with its counts, as PNG bytes."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    figure = Figure(figsize=(1.2 + 0.5 * n, 1.0 + 0.5 * n), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def training_curves_png(history: dict[str, list[float]], title: str, steps_per_point: int | None = None) -> bytes:
    """Loss and each metric per epoch, train and validation side by side, as PNG bytes.

    `history` maps a column of history.csv (`loss`, `val_loss`, `accuracy`, ...) to its values. A run
    trained by steps gives `steps_per_point` (its evaluation interval): the x-axis is then the optimizer step.
    """
    # The loss and the metrics that have a validation twin (not speeds or the gradient norm).
    names = [k for k in history if k == "loss" or (not k.startswith("val_") and f"val_{k}" in history)]
    names.sort(key=lambda k: (k != "loss", k))  # the loss first
    figure = Figure(figsize=(4.0 * max(len(names), 1), 3.2), dpi=100)
    FigureCanvasAgg(figure)
    epochs = np.arange(1, len(history.get("loss", [])) + 1) * (steps_per_point or 1)
    for i, name in enumerate(names):
        ax = figure.add_subplot(1, max(len(names), 1), i + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("optimizer step" if steps_per_point else "epoch")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def attention_map_png(weights: np.ndarray, tokens: list[str], title: str) -> bytes:
    """One attention map `(T, T)` (row: the attending token, column: the token attended to), as PNG bytes."""
    weights = np.asarray(weights)
    n = len(tokens)
    figure = Figure(figsize=(1.5 + 0.4 * n, 1.2 + 0.4 * n), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    image = ax.imshow(weights[:n, :n], cmap="viridis", vmin=0.0)
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(n), tokens, fontsize=8)
    ax.set_xlabel("attended to")
    ax.set_ylabel("attending")
    ax.set_title(title, fontsize=10)
    figure.colorbar(image, ax=ax, fraction=0.046)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # tokens the font lacks (e.g. CJK) show as boxes; no warning each epoch
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.tight_layout()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def objective_png(params: dict[str, list], objective: list[float], states: list[str], name: str) -> bytes:
    """A search's objective against each searched parameter (one panel a parameter), as PNG bytes.

    `params` maps a parameter to its value in every trial; complete trials are dots, pruned ones crosses
    (their best value before they stopped), others are left out.
    """
    keys = list(params) or ["(none)"]
    figure = Figure(figsize=(3.6 * len(keys), 3.2), dpi=100)
    FigureCanvasAgg(figure)
    y = np.asarray(objective, dtype=float)
    for i, key in enumerate(keys):
        ax = figure.add_subplot(1, len(keys), i + 1)
        values = params.get(key, [None] * len(y))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            x = np.asarray(values, dtype=float)
        else:  # categories in order of first appearance
            labels = list(dict.fromkeys(str(v) for v in values))
            x = np.asarray([labels.index(str(v)) for v in values], dtype=float)
            ax.set_xticks(range(len(labels)), labels, fontsize=8)
        for state, marker, colour in (("complete", "o", "tab:blue"), ("pruned", "x", "tab:gray")):
            keep = np.asarray([s == state for s in states]) & np.isfinite(y)
            if keep.any():
                ax.scatter(x[keep], y[keep], marker=marker, color=colour, label=state)
        if numeric and len(x) and np.nanmin(x) > 0 and np.nanmax(x) / np.nanmin(x) > 30:
            ax.set_xscale("log")
        ax.set_xlabel(key, fontsize=9)
        ax.set_ylabel(name if i == 0 else "", fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
