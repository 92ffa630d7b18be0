"""Labelled examples of any kind (`ImageSet`, `TextSet`): one way to carve a split off, to give
class names ids, and to check labels, with one split seed.

Anything with `labels` (an int array, or None for unlabelled text or until names get ids),
`label_names` (each example's class by name, or None), `class_names`, `source`, `len()` and
`subset(index, source)` is a set of examples here.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np

from tfmodels.errors import DataError

SPLIT_SEED = 0  # fixed: carved splits never change with the run's seed
Examples = TypeVar("Examples")


def carve(examples: Examples, fraction: float, purpose: str = "validation",
          seed: int = SPLIT_SEED) -> tuple[Examples, Examples]:
    """Splits a seeded `fraction` off `examples`: returns (rest, carved), each in the original order."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the fraction to carve must be between 0 and 1 (exclusive), got {fraction}")
    n_carved = int(round(len(examples) * fraction))
    if n_carved < 1 or n_carved >= len(examples):
        raise DataError(
            f"carving {fraction} of the {len(examples)} examples of '{examples.source}' leaves one side empty; "
            "use more data or change data.validation_fraction (or the spec's test_fraction)"
        )
    order = np.random.default_rng(seed).permutation(len(examples))
    return (examples.subset(np.sort(order[n_carved:]), examples.source),
            examples.subset(np.sort(order[:n_carved]), f"{examples.source} (carved {fraction:.0%} for {purpose})"))


def train_and_validation(load: Callable[[object, str], Examples], train_spec, validation_spec,
                         validation_fraction: float, folds=None) -> tuple[Examples, Examples]:
    """`load(spec, role)` of the training set and of the validation set, or the validation set carved
    from the training set (`validation_fraction`) when no spec names one. With `folds` (a `FoldsConfig`
    of count > 0): fold `folds.index` of the training set is the validation set and the rest trains."""
    train = load(train_spec, "train")
    if folds is not None and folds.count:
        return fold(train, folds.count, folds.index, folds.seed)
    if validation_spec:
        return train, load(validation_spec, "validation")
    return carve(train, validation_fraction)


def fold_labels(examples) -> np.ndarray | None:
    """The labels folds are stratified by: the ids, or the class names before they have ids (None: unlabelled)."""
    if examples.labels is not None:
        return np.asarray(examples.labels)
    return None if examples.label_names is None else np.asarray(examples.label_names)


def check_folds(examples, count: int) -> None:
    """Stratified folds need 2 .. (examples of the smallest class): else one line saying which bound."""
    if count < 2:
        raise DataError(f"cross-validation needs at least 2 folds, got {count}")
    labels = fold_labels(examples)
    if labels is None:
        if count > len(examples):
            raise DataError(f"{count} folds of the {len(examples)} examples of '{examples.source}': at most "
                            f"{len(examples)}")
        return
    names, counts = np.unique(labels, return_counts=True)
    if count > counts.min():
        raise DataError(f"{count} stratified folds of '{examples.source}': its smallest class ('{names[counts.argmin()]}') "
                        f"has {counts.min()} examples, so use at most {counts.min()} folds")


def fold(examples: Examples, count: int, index: int, seed: int = SPLIT_SEED) -> tuple[Examples, Examples]:
    """(all but fold `index`, fold `index`) of `count` stratified folds drawn from `seed` (scikit-learn's
    `StratifiedKFold` with shuffling; `KFold` for unlabelled examples), each in the original order."""
    from sklearn.model_selection import KFold, StratifiedKFold

    check_folds(examples, count)
    labels = fold_labels(examples)
    splitter = (KFold(count, shuffle=True, random_state=seed) if labels is None
                else StratifiedKFold(count, shuffle=True, random_state=seed))
    rest, held_out = list(splitter.split(np.zeros(len(examples)), labels))[index]
    return (examples.subset(np.sort(rest), f"{examples.source} (all but fold {index + 1} of {count})"),
            examples.subset(np.sort(held_out), f"{examples.source} (fold {index + 1} of {count})"))


def number_of_classes(train, configured: int | None) -> int:
    """The configured class count, or the largest training label + 1; at least two."""
    num_classes = configured if configured is not None else int(train.labels.max()) + 1
    if num_classes < 2:
        raise DataError(f"data.train ('{train.source}') has labels of only {num_classes} class; "
                        "a classifier needs two or more")
    return num_classes


def check_labels(examples, num_classes: int, where: str) -> None:
    """Every label in 0 .. num_classes - 1, or a DataError naming the first that is not."""
    bad = (examples.labels < 0) | (examples.labels >= num_classes)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"{where} ('{examples.source}'): label {examples.labels[first]} at example {first} is outside "
            f"0..{num_classes - 1}; set model.num_classes or fix the labels"
        )


def assign_class_ids(sets: dict, class_names: list[str] | None = None,
                     where: str = "data") -> list[str]:
    """Gives every set whose examples are labelled by name the ids of one list of class names.

    The names are `class_names` when given (the config's `data.text.class_names`, or a finished run's),
    else the training set's, sorted. A set labelled by name whose name is not in the list, or sets
    that mix named and integer labels, are errors. Returns the class names (integer-labelled sets
    keep their ids; the given names, if any, name them).
    """
    named = {role: s for role, s in sets.items() if s.label_names is not None}
    if not named:
        return list(class_names) if class_names else []
    numbered = [role for role, s in sets.items() if s.label_names is None and s.labels is not None]
    if numbered:
        raise DataError(f"{where}.{numbered[0]} ('{sets[numbered[0]].source}') has integer labels, but "
                        f"{where}.{next(iter(named))} labels its examples by class name; use the same kind of label "
                        "in every set")
    reference = sets.get("train") or next(iter(named.values()))
    names = list(class_names) if class_names else sorted(set(reference.label_names))
    ids = {name: i for i, name in enumerate(names)}
    for role, s in named.items():
        unknown = next((i for i, name in enumerate(s.label_names) if name not in ids), None)
        if unknown is not None:
            origin = "data.text.class_names" if class_names else "the training set's classes"
            text = f" ({s.texts[unknown][:40]!r})" if getattr(s, "texts", None) else ""
            raise DataError(f"{where}.{role} ('{s.source}'): example {unknown}{text} has the class "
                            f"{s.label_names[unknown]!r}, which is not one of {origin} ({', '.join(names)}); "
                            "fix the label or list every class in data.text.class_names")
        s.labels = np.array([ids[name] for name in s.label_names], dtype=np.int32)
        s.class_names = names
    return names
