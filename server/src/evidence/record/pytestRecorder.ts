/**
 * The pytest side of recording (see record.ts): a pytest plugin, kept as source
 * text like the runners' reporters and written to the run's temp directory as
 * `crucible_pytest_recorder.py`; a recorded pytest run gets
 * `-p crucible_pytest_recorder` with that directory on PYTHONPATH.
 *
 * From `pytest_configure` to `pytest_unconfigure` it traces with `sys.settrace`
 * (and `threading.settrace`) the function frames of Python files under
 * CRUCIBLE_RECORD_ROOT (not site-packages, dist-packages, node_modules, .tox,
 * .nox): frames elsewhere get no local trace function, and a function's line
 * events stop once all its lines have been seen. Test boundaries are
 * `pytest_runtest_logstart`/`logfinish`, which enclose a test's setup (its
 * fixtures), call and teardown. It writes `py-<pid>.ndjson` into
 * CRUCIBLE_RECORD_DIR (line types in the module's docstring); collectPython.ts
 * reads it. Test ids come from the node id exactly as the reporter derives them.
 *
 * The first CRUCIBLE_RECORD_SAMPLES (default 20) calls of each function per
 * process, outside test files and conftest.py, are sampled: arguments as the
 * frame received them (`self` included, keyword-only and `**kwargs` as a last
 * `{__type: 'kwargs', values}`) before and after the call, the return value or
 * the raised exception (`{__type: 'Error', name, message}`), the duration.
 * Values are encoded JSON-safe like the Node preload does, with Python's own
 * tags (`tuple`, `set`, `frozenset`, `dict` with non-string keys, `bytes`,
 * integral and non-finite `float`, big `int`, `complex`, `datetime`, `Decimal`,
 * `Enum`, `Path`…), instances as `{__class, __module, …fields}`, `[Circular]`,
 * `[Truncated]` and `…(truncated: n more)` marks; `decode` and `decode_args`
 * in the same module turn them back into values (replaying a recorded call).
 *
 * It never changes an outcome: every step is in try/except, frames are only
 * read, and it stays out (and says so in the NDJSON and the terminal summary)
 * when a trace function is already set or sys.monitoring has a debugger or
 * coverage tool (coverage.py, pytest-cov, a debugger), or when one replaces it
 * during the run; it restores the previous thread trace hook when done.
 */

/** Module name of the recorder plugin (loaded with `-p`, found through PYTHONPATH). */
export const pytestRecorderModule = 'crucible_pytest_recorder';

export const pytestRecorder = String.raw`"""Crucible's recorder for pytest runs (loaded with -p crucible_pytest_recorder).

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
encode/decode/decode_args are usable on their own (replaying a recorded call).
"""
import base64
import dis
import json
import math
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


# ---- JSON-safe encoding (mirrors the Node preload's) -------------------------------

MAX_DEPTH, MAX_ITEMS, MAX_STRING, MAX_NODES = 6, 50, 1000, 2000
_MAX_SAFE = 2 ** 53 - 1
_CO_OPTIMIZED, _CO_VARARGS, _CO_VARKEYWORDS = 0x1, 0x4, 0x8
_FUNCTION_TYPES = frozenset(("function", "builtin_function_or_method", "method", "method-wrapper", "wrapper_descriptor", "method_descriptor", "classmethod_descriptor", "partial"))
_GEN_FLAGS = {0x20: "[Generator]", 0x80: "[Coroutine]", 0x100: "[Coroutine]", 0x200: "[AsyncGenerator]"}


def _more(n):
    return "\u2026(truncated: %d more)" % n


def _mod(name):
    return sys.modules.get(name)


def _class_of(t):
    return {"__class": getattr(t, "__qualname__", t.__name__), "__module": getattr(t, "__module__", None)}


class _Encoder(object):
    def __init__(self):
        self.seen = set()
        self.nodes = 0

    def items(self, values, depth):
        out = []
        for i, x in enumerate(values):
            if i >= MAX_ITEMS:
                out.append(_more(len(values) - MAX_ITEMS) if hasattr(values, "__len__") else _more(1))
                break
            out.append(self.enc(x, depth + 1))
        return out

    def enc(self, v, depth=0):
        t = type(v)
        if v is None or t is bool:
            return v
        if t is str:
            return v if len(v) <= MAX_STRING else v[:MAX_STRING] + _more(len(v) - MAX_STRING)
        if t is int:
            return v if -_MAX_SAFE <= v <= _MAX_SAFE else {"__type": "int", "value": str(v)}
        if t is float:
            if v != v:
                return {"__type": "float", "value": "nan"}
            if v in (float("inf"), float("-inf")):
                return {"__type": "float", "value": "inf" if v > 0 else "-inf"}
            if v == 0 and math.copysign(1.0, v) < 0:
                return {"__type": "float", "value": "-0.0"}
            # 2.0 is not 2 in Python: integral floats keep their type.
            return {"__type": "float", "value": repr(v)} if v.is_integer() else v
        enum = _mod("enum")
        if enum is not None and issubclass(t, enum.Enum):
            o = _class_of(t)
            o.update({"__type": "Enum", "name": v._name_})
            return o
        if issubclass(t, int):
            return self.enc(int.__int__(v), depth)
        if issubclass(t, float):
            return self.enc(float.__float__(v), depth)
        if issubclass(t, str):
            return self.enc(str.__str__(v), depth)
        if t is complex:
            return {"__type": "complex", "value": repr(v)}
        if t is bytes or t is bytearray:
            o = {"__type": t.__name__, "value": base64.b64encode(bytes(v[:MAX_STRING])).decode("ascii")}
            if len(v) > MAX_STRING:
                o["length"] = len(v)
            return o
        if t is range:
            return {"__type": "range", "value": [v.start, v.stop, v.step]}
        known = self.known(v, t)
        if known is not None:
            return known
        if issubclass(t, BaseException):
            o = {"__type": "Error", "name": t.__name__, "message": _message(v)}
            if t.__module__ not in ("builtins", "exceptions"):
                o["__module"] = t.__module__
            return o
        if issubclass(t, type):
            return "[Class %s]" % getattr(v, "__qualname__", "?")
        if t.__name__ in _FUNCTION_TYPES:
            return "[Function %s]" % (getattr(v, "__qualname__", None) or getattr(v, "__name__", "anonymous"))
        if t.__name__ == "module":
            return "[Module %s]" % getattr(v, "__name__", "?")
        if t.__name__ in ("generator", "coroutine", "async_generator"):
            return {"generator": "[Generator]", "coroutine": "[Coroutine]", "async_generator": "[AsyncGenerator]"}[t.__name__]
        oid = id(v)
        if oid in self.seen:
            return "[Circular]"
        self.nodes += 1
        if depth >= MAX_DEPTH or self.nodes > MAX_NODES:
            return "[Truncated]"
        self.seen.add(oid)
        try:
            return self.container(v, t, depth)
        except Exception:
            return "[Unserialisable]"
        finally:
            self.seen.discard(oid)

    def known(self, v, t):
        dt = _mod("datetime")
        if dt is not None:
            for name in ("datetime", "date", "time"):
                if t is getattr(dt, name):
                    return {"__type": name, "value": v.isoformat()}
            if t is dt.timedelta:
                return {"__type": "timedelta", "value": [v.days, v.seconds, v.microseconds]}
        dec = _mod("decimal")
        if dec is not None and t is dec.Decimal:
            return {"__type": "Decimal", "value": str(v)}
        fr = _mod("fractions")
        if fr is not None and t is fr.Fraction:
            return {"__type": "Fraction", "value": str(v)}
        uu = _mod("uuid")
        if uu is not None and t is uu.UUID:
            return {"__type": "UUID", "value": str(v)}
        pl = _mod("pathlib")
        if pl is not None and issubclass(t, pl.PurePath):
            return {"__type": "Path", "value": str(v), "__class": t.__name__}
        return None

    def container(self, v, t, depth):
        if t is list:
            return self.items(v, depth)
        if t is tuple:
            return {"__type": "tuple", "values": self.items(v, depth)}
        if t is set or t is frozenset:
            return {"__type": t.__name__, "values": self.items(list(v), depth)}
        if t is dict:
            return self.mapping(v, depth)
        for base, kind in ((list, "list"), (tuple, "tuple"), (set, "set"), (frozenset, "frozenset")):
            if issubclass(t, base):
                o = _class_of(t)
                o.update({"__type": kind, "values": self.items(list(v), depth)})
                if kind == "tuple" and hasattr(t, "_fields"):
                    o["fields"] = list(t._fields)
                return o
        if issubclass(t, dict):
            o = _class_of(t)
            o.update({"__type": "dict", "entries": self.entries(v, depth)})
            return o
        return self.instance(v, t, depth)

    def entries(self, v, depth):
        out = []
        for i, (k, x) in enumerate(dict.items(v)):
            if i >= MAX_ITEMS:
                out.append(_more(len(v) - MAX_ITEMS))
                break
            out.append([self.enc(k, depth + 1), self.enc(x, depth + 1)])
        return out

    def mapping(self, v, depth):
        if all(type(k) is str and k not in ("__type", "__class") for k in v):
            o = {}
            for i, (k, x) in enumerate(v.items()):
                if i >= MAX_ITEMS:
                    o["\u2026"] = _more(len(v) - MAX_ITEMS)
                    break
                o[k] = self.enc(x, depth + 1)
            return o
        return {"__type": "dict", "entries": self.entries(v, depth)}

    def instance(self, v, t, depth):
        o = _class_of(t)
        fields = []
        try:
            d = object.__getattribute__(v, "__dict__")
            if type(d) is dict:
                fields.extend((k, x) for k, x in d.items() if type(k) is str)
        except Exception:
            pass
        for cls in getattr(t, "__mro__", ()):
            slots = cls.__dict__.get("__slots__", ())
            for name in [slots] if isinstance(slots, str) else slots:
                desc = cls.__dict__.get(name)
                if type(desc).__name__ != "member_descriptor":
                    continue
                try:
                    fields.append((name, desc.__get__(v, t)))
                except Exception:
                    pass
        for i, (k, x) in enumerate(fields):
            if i >= MAX_ITEMS:
                o["\u2026"] = _more(len(fields) - MAX_ITEMS)
                break
            if k not in ("__class", "__module", "__type"):
                o[k] = self.enc(x, depth + 1)
        return o


def _message(e):
    try:
        return str(e)
    except Exception:
        return "[Unprintable]"


def encode(value):
    """A JSON-safe copy of value: tagged types, [Circular], [Truncated], capped sizes."""
    try:
        return _Encoder().enc(value)
    except Exception:
        return "[Unserialisable]"


def encode_args(args, kwargs=None):
    """The recorded form of a call's arguments: positional values, then {"__type": "kwargs"} if any."""
    e = _Encoder()
    out = []
    for x in args:
        try:
            out.append(e.enc(x, 1))
        except Exception:
            out.append("[Unserialisable]")
    if kwargs:
        values = {}
        for k, x in kwargs.items():
            try:
                values[k] = e.enc(x, 1)
            except Exception:
                values[k] = "[Unserialisable]"
        out.append({"__type": "kwargs", "values": values})
    return out


def encode_error(e):
    o = {"__type": "Error", "name": type(e).__name__, "message": _message(e)}
    if type(e).__module__ not in ("builtins", "exceptions"):
        o["__module"] = type(e).__module__
    return o


def _find(module, qualname):
    import importlib

    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode(v):
    """The Python value of an encoded one (classes are imported by module and name)."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    kind = v.get("__type")
    cls = None
    if "__class" in v and kind not in ("Path", "Enum"):
        try:
            cls = _find(v["__module"], v["__class"])
        except Exception:
            cls = None
    if kind is None and "__class" not in v:
        return dict((k, decode(x)) for k, x in v.items())
    if kind == "float":
        return float(v["value"])
    if kind == "int":
        return int(v["value"])
    if kind == "complex":
        return complex(v["value"])
    if kind in ("bytes", "bytearray"):
        raw = base64.b64decode(v["value"])
        return raw if kind == "bytes" else bytearray(raw)
    if kind == "range":
        return range(*v["value"])
    if kind in ("list", "tuple", "set", "frozenset"):
        values = [decode(x) for x in v["values"]]
        base = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind]
        if cls is not None:
            try:
                return cls(*values) if "fields" in v else cls(values)
            except Exception:
                pass
        return base(values)
    if kind == "dict":
        pairs = [(decode(k), decode(x)) for k, x in (e for e in v["entries"] if isinstance(e, list))]
        if cls is not None:
            try:
                return cls(pairs)
            except Exception:
                pass
        return dict(pairs)
    if kind == "kwargs":
        return dict((k, decode(x)) for k, x in v["values"].items())
    if kind in ("datetime", "date", "time"):
        import datetime

        return getattr(datetime, kind).fromisoformat(v["value"])
    if kind == "timedelta":
        import datetime

        return datetime.timedelta(*v["value"])
    if kind == "Decimal":
        import decimal

        return decimal.Decimal(v["value"])
    if kind == "Fraction":
        import fractions

        return fractions.Fraction(v["value"])
    if kind == "UUID":
        import uuid

        return uuid.UUID(v["value"])
    if kind == "Path":
        import pathlib

        return getattr(pathlib, v.get("__class", "Path"), pathlib.Path)(v["value"])
    if kind == "Enum":
        return getattr(_find(v["__module"], v["__class"]), v["name"])
    if kind == "Error":
        import builtins

        try:
            ex = _find(v["__module"], v["name"]) if "__module" in v else getattr(builtins, v["name"])
        except Exception:
            ex = Exception
        try:
            return ex(v["message"])
        except Exception:
            return Exception(v["message"])
    if "__class" in v:
        if cls is None:
            raise ValueError("cannot rebuild %s.%s" % (v.get("__module"), v["__class"]))
        obj = cls.__new__(cls)
        for k, x in v.items():
            if k not in ("__class", "__module"):
                object.__setattr__(obj, k, decode(x))
        return obj
    return dict((k, decode(x)) for k, x in v.items())


def decode_args(args):
    """(positional, keyword) arguments of a recorded call, ready for fn(*args, **kwargs)."""
    args = list(args)
    kwargs = {}
    if args and isinstance(args[-1], dict) and args[-1].get("__type") == "kwargs":
        kwargs = decode(args.pop())
    return [decode(a) for a in args], kwargs


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
`;
