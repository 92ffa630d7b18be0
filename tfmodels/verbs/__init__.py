"""The verbs: what a user runs, one module each (train, evaluate, export, predict, demo, launch,
doctor, tensorboard). The command line (`tfmodels.cli`) only parses arguments and calls them."""
