"""tfmodels: develop Keras 3 / TensorFlow models from scratch and fine-tune them.

The command line is `tfmodels` (see `tfmodels --help`); in a notebook, import the parts:
`tfmodels.config`, `tfmodels.data`, `tfmodels.models`, `tfmodels.training`, `tfmodels.export`.
"""

__version__ = "0.1.0"
