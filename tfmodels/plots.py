"""PNG figures for run folders, drawn with matplotlib's object API (no pyplot state is touched)."""

from __future__ import annotations

import io

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
