"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network").

A student learns from the labels and from a trained teacher's softened predictions:

    loss = (1 - alpha) * CE(y, s)  +  alpha * T^2 * KL(softmax(t / T) || softmax(s / T))

s and t are the student's and the teacher's logits of the same batch, T the temperature (a higher T
spreads the teacher's probability over the classes it finds alike: its "dark knowledge"); T^2 keeps the
soft term's gradients as large as the hard term's whatever T is (the paper's section 2). The teacher is
frozen and runs in inference mode (no dropout) on every training batch.

`Distillation` wraps the two models as one Keras model whose `compute_loss` adds the teacher's term, so
`model.fit`, the `strategy.run` loop and every strategy train it as any model: the KL term is a Keras
`Loss`, reduced and scaled for the replicas as the compiled loss is. Evaluation (`training=False`) is the
student's compiled loss alone, so `val_loss` means what it means without a teacher; the training `loss`
of the logs is the mixed loss above. Only the student is saved (`student`).
"""

from __future__ import annotations

import keras
from keras import ops


class SoftTargetKL(keras.losses.Loss):
    """KL(softmax(teacher / T) || softmax(student / T)) * T^2 over the last axis, from logits.

    Any leading shape: (B, classes) for a classifier, (B, T, vocabulary) for a language model, where
    `sample_weight` (B, T) leaves padding out (reduction `mean_with_sample_weight`).
    """

    def __init__(self, temperature: float = 2.0, name: str = "soft_target_kl", **kwargs):
        super().__init__(name=name, reduction=kwargs.pop("reduction", "mean_with_sample_weight"), **kwargs)
        self.temperature = temperature

    def call(self, teacher_logits, student_logits):
        T = self.temperature
        log_p_teacher = ops.log_softmax(ops.cast(teacher_logits, "float32") / T, axis=-1)  # (..., classes)
        log_p_student = ops.log_softmax(ops.cast(student_logits, "float32") / T, axis=-1)
        kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)  # (...)
        return kl * (T * T)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class Distillation(keras.Model):
    """`student(x)`, trained with the teacher's soft targets beside the compiled loss (see the module).

    Build the student and load the teacher in the strategy's scope, wrap them, then `compile` this model
    with the student's usual loss and metrics.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float = 2.0, alpha: float = 0.5,
                 **kwargs):
        super().__init__(name=kwargs.pop("name", "distillation"), **kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False  # its weights never change; the optimizer sees the student's alone
        self.temperature, self.alpha = float(temperature), float(alpha)
        self.soft_loss = SoftTargetKL(self.temperature)
        # No weights of its own: built when both models are (a resumed run loads its backup into it before
        # the first step).
        self.built = bool(student.built and teacher.built)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        hard = super().compute_loss(x, y, y_pred, sample_weight, training=training)  # the student's compiled loss
        if not training:
            return hard
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        soft = self.soft_loss(teacher_logits, y_pred, sample_weight=sample_weight)
        return (1.0 - self.alpha) * hard + self.alpha * soft

    # What the run's callbacks ask of a text classifier, answered by the student (TensorBoard's
    # attention maps of tfmodels.tasks.text_summaries).
    @property
    def shows_attention(self) -> bool:
        return bool(getattr(self.student, "shows_attention", False))

    def attention_scores(self, token_ids):
        return self.student.attention_scores(token_ids)
