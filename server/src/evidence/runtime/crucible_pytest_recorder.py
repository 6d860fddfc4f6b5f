"""Crucible's recorder for pytest runs (loaded with -p crucible_pytest_recorder).

Traces the workspace's Python functions with sys.settrace while the tests run and
appends NDJSON lines to $CRUCIBLE_RECORD_DIR/py-<pid>.ndjson:
  {"type": "py-start", "pid", "python"}                  once, when tracing starts
  {"type": "py-off", "reason"}                           when it does not (or stops)
  {"type": "py-file", "f", "file", "coverable"}          per workspace file, at first sight
  {"type": "py-code", "f", "c", "line", "name", "lines"?} per workspace function code object
  {"type": "py-run", "test", "calls": [[c, n], ...]}     per test (and per stretch outside tests):
                                                         the code objects that ran, n = calls
  {"type": "py-lines", "f", "lines"}                     lines run since the last flush
  {"type": "py-call", "c", "sample"}                     the first calls per function: arguments
                                                         (before), result or error, duration, mutated
Lines are 1-based. "test" is {"file": absolute, "titlePath": [...]} as Crucible's
reporter derives it from the node id, or null.

It never changes an outcome: every step is in try/except, it only reads frames,
and it stays out when a trace function (coverage.py, a debugger) is already set.
The encoding lives in crucible_codec (next to this file, on the same PYTHONPATH);
encode/decode/decode_args are re-exported here and usable on their own (replaying a
recorded call).
"""
import dis
import json
import os
import sys
import threading
import time

try:
    import pytest as _pt

    _hookimpl = _pt.hookimpl
except Exception:  # imported for decode only, without pytest
    _pt = None

    def _hookimpl(**_kw):
        return lambda f: f


# The encoding is shared with the benchmark worker; every name is kept here as before.
from crucible_codec import (  # noqa: F401
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    MAX_NODES,
    _MAX_SAFE,
    _CO_OPTIMIZED,
    _CO_VARARGS,
    _CO_VARKEYWORDS,
    _FUNCTION_TYPES,
    _GEN_FLAGS,
    _more,
    _mod,
    _class_of,
    _Encoder,
    _message,
    encode,
    encode_args,
    encode_error,
    _find,
    decode,
    decode_args,
)


# ---- tracing -----------------------------------------------------------------------

_root = os.environ.get("CRUCIBLE_RECORD_ROOT")
_dir = os.environ.get("CRUCIBLE_RECORD_DIR")
try:
    _max_samples = int(os.environ.get("CRUCIBLE_RECORD_SAMPLES") or 20) or 20
except ValueError:
    _max_samples = 20
_self_dir = os.path.dirname(os.path.realpath(__file__))
_excluded_parts = ("site-packages", "dist-packages", "node_modules", ".tox", ".nox")

_lock = threading.Lock()
_buf = []
_out = None
_on = False
_pytest_root = None
_files = {}  # co_filename -> _File or False
_workspace_files = []  # the _File values
_notes = []
_codes = {}  # id(code) -> _Code (which keeps the code alive)
_counts = {}  # _Code -> calls, for the current test (or stretch outside tests)
_test = None
_test_files = set()
_prev_thread_trace = None
_perf_ns = getattr(time, "perf_counter_ns", None) or (lambda: int(time.perf_counter() * 1e9))
_RETURNS = set(dis.opmap[n] for n in ("RETURN_VALUE", "RETURN_CONST") if n in dis.opmap)
_YIELDS = set(dis.opmap[n] for n in ("YIELD_VALUE", "RESUME") if n in dis.opmap)


def _emit(obj):
    _buf.append(obj)


def _flush_file():
    global _out
    with _lock:
        lines = _buf[:]
        del _buf[: len(lines)]
    if not lines:
        return
    try:
        if _out is None:
            _out = open(os.path.join(_dir, "py-%d.ndjson" % os.getpid()), "a", encoding="utf-8")
        _out.write("".join(json.dumps(o) + "\n" for o in lines))
        _out.flush()
    except Exception:
        pass


def _code_lines(code):
    if hasattr(code, "co_lines"):
        lines = set(l for _, _, l in code.co_lines() if l)
    else:
        lines = set(l for _, l in dis.findlinestarts(code) if l)
    lines.add(code.co_firstlineno)
    return lines


def _function_codes(code):
    stack = [code]
    while stack:
        co = stack.pop()
        if co.co_flags & _CO_OPTIMIZED:
            yield co
        stack.extend(k for k in co.co_consts if hasattr(k, "co_code"))


class _File(object):
    __slots__ = ("f", "path", "executed", "new", "static", "sampled")

    def __init__(self, f, path, sampled):
        self.f = f
        self.path = path
        self.executed = set()
        self.new = []
        self.static = False
        self.sampled = sampled


class _Code(object):
    __slots__ = ("c", "file", "code", "left", "samples", "gen", "resume", "tracer")

    def __init__(self, c, fi, code):
        self.c = c
        self.file = fi
        self.code = code
        self.left = _code_lines(code) - fi.executed
        sampled = fi.sampled and not code.co_name.startswith("<")
        self.samples = _max_samples if sampled else 0
        self.gen = None
        for flag, tag in _GEN_FLAGS.items():
            if code.co_flags & flag:
                self.gen = tag
        self.resume = -1
        if self.gen is not None and "RESUME" in dis.opmap:
            for ins in dis.get_instructions(code):
                if ins.opname == "RESUME":
                    self.resume = ins.offset
                    break
        self.tracer = _line_tracer(self)


def _file_of(filename):
    info = False
    try:
        if filename and not filename.startswith("<"):
            real = os.path.realpath(filename)
            parts = real.split(os.sep)
            if real.startswith(_root_prefix) and not any(p in _excluded_parts for p in parts) and os.path.dirname(real) != _self_dir:
                name = os.path.basename(real)
                info = _File(len(_workspace_files), real, name != "conftest.py" and real not in _test_files)
                _workspace_files.append(info)
                coverable = None
                try:
                    import tokenize

                    with tokenize.open(real) as fh:
                        source = fh.read()
                    module = compile(source, real, "exec", dont_inherit=True)
                    coverable = set()
                    for co in _function_codes(module):
                        coverable |= _code_lines(co)
                    info.static = True
                except Exception:
                    coverable = None
                _emit({"type": "py-file", "f": info.f, "file": real, "coverable": sorted(coverable) if coverable is not None else None})
    except Exception:
        info = False
    _files[filename] = info
    return info


def _code_of(code, fi):
    c = _Code(len(_codes), fi, code)
    _codes[id(code)] = c
    rec = {"type": "py-code", "f": fi.f, "c": c.c, "line": code.co_firstlineno, "name": code.co_name}
    if not fi.static:
        rec["lines"] = sorted(_code_lines(code))
    _emit(rec)
    return c


def _saw(info, line):
    info.left.discard(line)
    fi = info.file
    if line not in fi.executed:
        fi.executed.add(line)
        fi.new.append(line)


def _line_tracer(info):
    left = info.left

    def trace(frame, event, arg):
        try:
            if event == "line":
                line = frame.f_lineno
                if line in left:
                    _saw(info, line)
                    if not left:
                        frame.f_trace_lines = False
        except Exception:
            return None
        return trace

    return trace


def _arguments(frame):
    code = frame.f_code
    names = code.co_varnames
    loc = frame.f_locals
    n = code.co_argcount
    args = [loc[name] for name in names[:n]]
    kwargs = {}
    for name in names[n : n + code.co_kwonlyargcount]:
        kwargs[name] = loc[name]
    i = n + code.co_kwonlyargcount
    if code.co_flags & _CO_VARARGS:
        args.extend(loc[names[i]])
        i += 1
    if code.co_flags & _CO_VARKEYWORDS:
        kwargs.update(loc[names[i]])
    return args, kwargs


def _sampler(info, frame):
    try:
        args, kwargs = _arguments(frame)
        before = encode_args(args, kwargs)
    except Exception:
        args, kwargs, before = None, None, "[Unserialisable]"
    state = {"exc": None}
    left = info.left
    t0 = _perf_ns()

    def trace(frame, event, arg):
        try:
            if event == "line":
                line = frame.f_lineno
                if line in left:
                    _saw(info, line)
            elif event == "exception":
                state["exc"] = arg
            elif event == "return":
                ns = _perf_ns() - t0
                raised = None
                if arg is None:
                    op = None
                    try:
                        op = frame.f_code.co_code[frame.f_lasti]
                    except Exception:
                        pass
                    if op not in _RETURNS and not (info.gen and op in _YIELDS) and state["exc"] is not None:
                        raised = state["exc"]
                sample = {"args": before, "durationNs": ns}
                if raised is not None:
                    value = raised[1]
                    sample["error"] = encode_error(value) if isinstance(value, BaseException) else {"__type": "Error", "name": getattr(raised[0], "__name__", "Exception"), "message": _message(value)}
                elif info.gen:
                    sample["result"] = info.gen
                else:
                    sample["result"] = encode(arg)
                try:
                    after = encode_args(args, kwargs) if args is not None else before
                    sample["mutated"] = json.dumps(after) != json.dumps(before)
                except Exception:
                    sample["mutated"] = False
                state["exc"] = None
                _emit({"type": "py-call", "c": info.c, "sample": sample})
                # Returning None keeps a local trace function: a resumed generator would come back here.
                frame.f_trace = None
                return None
        except Exception:
            return None
        return trace

    if not left:
        frame.f_trace_lines = False
    return trace


def _trace(frame, event, arg):
    if not _on:
        return None
    try:
        code = frame.f_code
        fi = _files.get(code.co_filename)
        if fi is False:
            return None
        if fi is None:
            fi = _file_of(code.co_filename)
            if fi is False:
                return None
        if not code.co_flags & _CO_OPTIMIZED:
            return None  # module and class bodies: definitions, not calls
        info = _codes.get(id(code))
        if info is None:
            info = _code_of(code, fi)
        fresh = info.gen is None or frame.f_lasti <= info.resume
        counts = _counts
        counts[info] = counts.get(info, 0) + (1 if fresh else 0)
        if fresh:
            first = code.co_firstlineno
            if first in info.left:
                _saw(info, first)
            if info.samples > 0:
                info.samples -= 1
                return _sampler(info, frame)
        return info.tracer if info.left else None
    except Exception:
        return None


# ---- pytest hooks ------------------------------------------------------------------


def _test_of(nodeid):
    import re

    parts = nodeid.split("::")
    titles = parts[1:]
    if titles:
        titles[-1] = re.sub(r"\[.*\]$", "", titles[-1])
    return {"file": os.path.realpath(os.path.join(_pytest_root, parts[0])), "titlePath": titles}


def _flush_segment(test):
    global _counts
    counts = _counts
    _counts = {}
    for fi in list(_workspace_files):
        if fi.new:
            new, fi.new = fi.new, []
            _emit({"type": "py-lines", "f": fi.f, "lines": new})
    if counts:
        _emit({"type": "py-run", "test": test, "calls": [[info.c, n] for info, n in counts.items()]})
    _flush_file()


def _release_threads():
    if getattr(threading, "_trace_hook", None) is _trace:
        threading.settrace(_prev_thread_trace)


def _off(reason):
    global _on
    _emit({"type": "py-off", "reason": reason})
    _notes.append(reason)
    if _on:
        _on = False
        _release_threads()
        _flush_segment(_test)
    _flush_file()


def _busy_monitoring():
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        return None
    for tool in (getattr(mon, "DEBUGGER_ID", 0), getattr(mon, "COVERAGE_ID", 1)):
        try:
            name = mon.get_tool(tool)
        except Exception:
            name = None
        if name:
            return name
    return None


@_hookimpl(trylast=True)
def pytest_configure(config):
    global _on, _pytest_root, _root_prefix, _prev_thread_trace
    if not _root or not _dir or _on:
        return
    try:
        _pytest_root = str(config.rootpath) if hasattr(config, "rootpath") else str(config.rootdir)
        _root_prefix = os.path.join(os.path.realpath(_root), "")
        if getattr(config, "workerinput", None) is None and getattr(config.option, "numprocesses", None):
            return  # pytest-xdist's controller runs no test: its workers record
        current = sys.gettrace()
        if current is not None:
            _off("a trace function is already set (%s): coverage.py or a debugger is active" % getattr(current, "__qualname__", type(current).__name__))
            return
        busy = _busy_monitoring()
        if busy:
            _off("sys.monitoring is in use by %s" % busy)
            return
        _emit({"type": "py-start", "pid": os.getpid(), "python": "%d.%d.%d" % sys.version_info[:3]})
        _prev_thread_trace = getattr(threading, "_trace_hook", None)
        _on = True
        threading.settrace(_trace)
        sys.settrace(_trace)
    except Exception as e:
        _on = False
        try:
            _off("could not start: %r" % (e,))
        except Exception:
            pass


def pytest_terminal_summary(terminalreporter):
    for reason in _notes:
        try:
            terminalreporter.write_line("crucible: not recording: %s (test outcomes are not affected)" % reason)
        except Exception:
            pass


def pytest_collectstart(collector):
    try:
        if _pt is not None and isinstance(collector, _pt.Module):
            _test_files.add(os.path.realpath(str(collector.path if hasattr(collector, "path") else collector.fspath)))
    except Exception:
        pass


def _still_ours():
    if not _on:
        return False
    if sys.gettrace() is not _trace:
        _off("the trace function was replaced (a debugger, coverage.py or a test set its own); recorded up to here")
        return False
    return True


def pytest_runtest_logstart(nodeid, location):
    global _test
    try:
        if not _still_ours():
            return
        _flush_segment(None)
        _test = _test_of(nodeid)
    except Exception:
        pass


def pytest_runtest_logfinish(nodeid, location):
    global _test
    try:
        if not _on:
            return
        test, _test = _test, None
        _flush_segment(test)
        _still_ours()
    except Exception:
        pass


@_hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    global _on
    try:
        was, _on = _on, False
        # Only ours is removed: a trace function someone set since stays.
        if sys.gettrace() is _trace:
            sys.settrace(None)
        _release_threads()
        if was:
            _flush_segment(_test)
        _flush_file()
        if _out is not None:
            _out.close()
    except Exception:
        pass


_root_prefix = os.path.join(os.path.realpath(_root), "") if _root else None
