from cloudlease.cli import run

run()
