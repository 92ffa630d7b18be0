"""`tfmodels evaluate`: a finished run scored as its task scores it, into its metrics.json.

The task chooses the numbers (`tfmodels/tasks/reports.py`): a classifier's accuracy, per-class
precision/recall/F1, macro-F1 and confusion matrix (also a PNG in the run folder and an image in
TensorBoard, `logs/evaluation`); a language model's loss and perplexity per masked or predicted
token over a whole corpus.
"""

from __future__ import annotations

from tfmodels.files import atomic_write_json, read_json
from tfmodels.run_folder import RunPaths, read_run_config, require_finished
from tfmodels.tasks import task_for
from tfmodels.tasks.reports import classification_metrics, format_report

__all__ = ["classification_metrics", "evaluate_run", "format_report"]


def evaluate_run(run_dir, data_spec: str | None = None, split: str | None = None,
                 trust_code: bool = False) -> tuple[str, dict]:
    """Evaluates the run's model on one of its splits or on `data_spec` as its task does; records the
    result in the run's metrics.json (under "evaluation"); returns (name, metrics)."""
    paths = RunPaths(run_dir)
    require_finished(paths)
    task = task_for(read_run_config(paths))
    name, result = task.evaluate(paths, read_json(paths.data_info), data_spec, split, trust_code)
    metrics = read_json(paths.metrics)
    metrics.setdefault("evaluation", {})[name] = result
    atomic_write_json(paths.metrics, metrics)
    return name, result
