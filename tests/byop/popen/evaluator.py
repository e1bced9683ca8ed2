"""An evaluator in the style of OpenEvolve's circle_packing: it writes a small driver script, runs
it as `python driver.py` in a subprocess and reads the program's answer back from a file."""

import json
import os
import subprocess
import sys
import tempfile


def evaluate(program_path):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("program", {program_path!r})
program = importlib.util.module_from_spec(spec)
spec.loader.exec_module(program)
print("driver argv", sys.argv[1:])
with open({f.name + ".json"!r}, "w") as out:
    json.dump(program.answer(), out)
""")
    try:
        proc = subprocess.run([sys.executable, f.name, "x"], capture_output=True, text=True,
                              timeout=60)
        with open(f.name + ".json") as res:
            value = float(json.load(res))
    finally:
        for path in (f.name, f.name + ".json"):
            if os.path.exists(path):
                os.unlink(path)
    return {"combined_score": value, "exit_code": float(proc.returncode),
            "said_argv": float("driver argv ['x']" in proc.stdout)}
