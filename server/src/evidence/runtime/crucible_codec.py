"""Crucible's JSON-safe encoding of Python values (the format of recorded calls).

The pytest recorder (crucible_pytest_recorder) encodes arguments, results and errors
with it; the benchmark worker (crucible_bench_worker) decodes them to replay a call.
It mirrors the Node preload's encoding (record-preload.cjs) with Python's own tags:
`tuple`, `set`, `frozenset`, `dict` with non-string keys, `bytes`, integral and
non-finite `float`, big `int`, `complex`, `datetime`, `Decimal`, `Enum`, `Path`...;
instances as `{__class, __module, ...fields}`; `[Circular]`, `[Truncated]` and
`...(truncated: n more)` marks. It imports nothing outside the standard library.
"""
import base64
import math
import sys

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
