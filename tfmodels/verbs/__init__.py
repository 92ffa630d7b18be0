"""The verbs: what a user runs, one module each (train, evaluate, export, predict, generate, quantize,
serve, demo, launch, doctor, tensorboard; `tfmodels search` is the package `tfmodels.search`), and the
Python API over them (`load.py`: a run folder or an export, loaded and called). A verb asks the run's task
(`tfmodels.tasks.task_for`) for what differs between kinds of model and names none. The command line
(`tfmodels.cli`) only parses arguments and calls them."""
