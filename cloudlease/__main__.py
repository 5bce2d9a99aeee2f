from cloudlease.cli.main import run

run()
