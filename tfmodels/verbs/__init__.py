"""The verbs: what a user runs, one module each (train, evaluate, export, predict, generate, quantize,
demo, launch, doctor, tensorboard; `tfmodels search` is the package `tfmodels.search`). A verb asks the
run's task (`tfmodels.tasks.task_for`) for what differs between kinds of model and names none. The
command line (`tfmodels.cli`) only parses arguments and calls them."""
