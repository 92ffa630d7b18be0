from tfmodels.cli import run

run()
