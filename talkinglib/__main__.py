from talkinglib.cli import run

run()
