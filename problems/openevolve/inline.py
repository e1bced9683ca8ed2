"""What an upstream evaluator starts to run the program, done inline in the candidate's child.

Evaluators written for OpenEvolve and ShinkaEvolve often wrap the program in a
ThreadPoolExecutor (for its timeout) or run it as `[sys.executable, script.py]` in a subprocess
(OpenEvolve's circle_packing). The sandboxed child may start neither a thread nor a process and
cannot read the Python installation, so both are emulated in the child itself: same code, same
files, same outputs, and the sandbox's own limits (wall clock, memory) instead of the
evaluator's timeout. Nothing is allowed that the sandbox refuses: any other command still meets
the real `subprocess.Popen`, which the sandbox refuses as before.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import os
import runpy
import subprocess
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any


class InlineExecutor(concurrent.futures.Executor):
    """ThreadPoolExecutor's stand-in: each call runs at submit."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to whoever reads the future
            future.set_exception(e)
        return future


def python_script(args: Any) -> list[str] | None:
    """`[script.py, *argv]` when `args` runs a Python file with this or any `python`, else None."""
    if not isinstance(args, (list, tuple)) or len(args) < 2:
        return None
    exe, script = (os.fsdecode(a) if isinstance(a, (str, bytes, os.PathLike)) else "" for a in
                   args[:2])
    is_python = exe == sys.executable or os.path.basename(exe).startswith("python")
    if not is_python or not script.endswith(".py"):
        return None
    return [script, *(os.fsdecode(a) for a in args[2:])]


class _Capture(io.TextIOWrapper):
    """A text stream over bytes, for the script's stdout/stderr."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)

    def data(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()  # type: ignore[attr-defined]


class InlineProcess:
    """subprocess.Popen's stand-in for a Python script: it runs at creation, in this process."""

    def __init__(self, argv: list[str], stdout: Any = None, stderr: Any = None,
                 text: bool = False, universal_newlines: bool | None = None,
                 encoding: str | None = None, errors: str | None = None, **_: Any):
        self.args, self.pid = [sys.executable, *argv], os.getpid()
        self._text = bool(text or universal_newlines or encoding or errors)
        out, err = _Capture(), _Capture()
        self.returncode = _run(argv, out, err if stderr != subprocess.STDOUT else out)
        self._out = out.data() if stdout == subprocess.PIPE else None
        self._err = err.data() if stderr == subprocess.PIPE else None
        if stdout != subprocess.PIPE:  # not captured: it goes where the evaluator's output goes
            sys.stdout.write(out.data().decode(errors="replace"))
        if stderr not in (subprocess.PIPE, subprocess.STDOUT):
            sys.stderr.write(err.data().decode(errors="replace"))
        self.stdout = self._stream(self._out)
        self.stderr = self._stream(self._err)
        self.stdin = None

    def _stream(self, data: bytes | None) -> Any:
        if data is None:
            return None
        return io.StringIO(data.decode(errors="replace")) if self._text else io.BytesIO(data)

    def _value(self, data: bytes | None) -> Any:
        if data is None:
            return None
        return data.decode(errors="replace") if self._text else data

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        return self._value(self._out), self._value(self._err)

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def poll(self) -> int:
        return self.returncode

    def kill(self) -> None:
        pass

    terminate = kill

    def send_signal(self, sig: int) -> None:
        pass

    def __enter__(self) -> InlineProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _run(argv: list[str], out: _Capture, err: _Capture) -> int:
    """Run the script as `python script.py args` would (as __main__, its folder first on the
    import path); its exit status. Modules it loads from its own folder are dropped after, as
    they would die with a real subprocess."""
    saved_argv, saved_path, before = sys.argv[:], sys.path[:], set(sys.modules)
    folder = os.path.dirname(os.path.abspath(argv[0]))
    sys.argv, sys.path[:0] = list(argv), [folder]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(argv[0], run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if e.code is not None and not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 - a crashing script exits 1 with its traceback
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        for name in set(sys.modules) - before:
            path = getattr(sys.modules[name], "__file__", None) or ""
            if path and os.path.abspath(path).startswith(folder + os.sep):
                del sys.modules[name]
    return code


def _popen(real: Any) -> Any:
    def popen(args: Sequence[Any], *rest: Any, **kwargs: Any) -> Any:
        argv = python_script(args)
        if argv is None or rest:
            return real(args, *rest, **kwargs)  # refused by the sandbox as before
        return InlineProcess(argv, **kwargs)

    return popen


@contextlib.contextmanager
def inline_workers() -> Iterator[None]:
    """While an evaluator runs: thread pools and `python script.py` subprocesses run inline."""
    saved = concurrent.futures.ThreadPoolExecutor, subprocess.Popen
    concurrent.futures.ThreadPoolExecutor = InlineExecutor  # type: ignore[misc, assignment]
    subprocess.Popen = _popen(saved[1])  # type: ignore[misc]
    try:
        yield
    finally:
        concurrent.futures.ThreadPoolExecutor, subprocess.Popen = saved  # type: ignore[misc]
