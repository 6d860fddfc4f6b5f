"""Crucible benchmark worker (Python): replays recorded calls and times them.

replay.ts runs it (through supervise.ts) with the Python the pytest adapter picks, cwd = the
workspace folder, in its own process group, with PYTHONDONTWRITEBYTECODE=1 and `-B`,
CRUCIBLE_WORKER_MEMORY_MB (the address-space limit it sets on itself), and a job file
(`argv[1]`, JSON):

  { variants: [{ label, file (absolute), qualifiedName, source? }],
    calls: [{ args (recorded JSON), threw }],
    sysPath: [absolute dirs, first first],
    deadline (epoch ms), warmupMs, maxSamples, minSampleNs, maxSampleNs, maxInvocationsPerSample }

It reports JSON lines on file descriptor 3 (its stdout and stderr are the workspace
code's): `{type:'phase', ...}` as it goes (so a timeout can say where it hung), then
`{type:'done', calls, rounds, notes, skipped, variants:[{label, samplesNs, batch, async}]}`
or `{type:'fail', reason, variant?, skipped?}`; `skipped` counts calls dropped here
by reason (replayable.ts `SkipReason`), on top of those replay.ts dropped before.

Method (the Node worker's, see docs on benchmarks):
0. `resource.setrlimit(RLIMIT_AS, CRUCIBLE_WORKER_MEMORY_MB)` where available (a
   MemoryError then fails the benchmark with "ran out of memory"); sys.path = `sysPath`
   (pytest's `pythonpath` entries, then the workspace folder) in front, the module's own
   directory at the end, this file's directory removed;
1. import each variant's module by its dotted name under a sys.path entry (so the
   classes the recording names by `__module`/`__class` are the ones the function
   sees), else by file path (`spec_from_file_location`); a variant with `source` is
   that text executed in a copy of the module's namespace. Find the function by
   qualified name: `f`, `Class.method` (the recorded `self` is the first argument),
   a staticmethod (no `self`), a classmethod (the recorded `cls` is replaced by the
   class), a property's getter; decorated functions are unwrapped (`__wrapped__`),
   since the recorded arguments are the inner function's own. Coroutine functions
   and async generators are refused; a generator is drained inside the timed call;
2. arguments are decoded with the recorder's `decode` (crucible_codec), once to
   see which calls can be rebuilt (an instance of a class that cannot be imported,
   a `self` that is not an instance of the method's class -> skipped, counted), then
   fresh for every invocation, outside the clock (a `pickle` round trip when the
   value holds only builtin types: the same copy, faster; arguments holding only
   immutable values are shared);
3. verification pass: every call once per variant; one that raises where the
   recorded one did not -> fail "replay diverged"; cut to a prefix when a pass would
   not fit the budget;
4. warm-up and batch calibration, interleaved, then one common batch;
5. rounds with a rotating first variant until maxSamples or the deadline. A sample
   is `time.perf_counter_ns()` around `batch` passes over the calls, divided by the
   invocations. Before it (outside the clock) `gc.collect()` clears the previous
   sample's garbage; during it the cyclic collector is disabled (`gc.disable()`,
   re-enabled after), so its pauses, whose cost depends on everything alive in the
   process, are not in the timings; reference counting frees as usual.
"""
import json
import math
import os
import sys
import time

# The recorder's encoding: one definition of the format (imported before sys.path is rearranged).
from crucible_codec import decode_args

import gc
import importlib
import importlib.util
import inspect
import pickle
import types

_out = None


def _send(obj):
    try:
        _out.write(json.dumps(obj) + "\n")
        _out.flush()
    except Exception:
        pass


def _tell(**kw):
    kw["type"] = "phase"
    _send(kw)


def _now_ms():
    return time.time() * 1000.0


def _msg(e):
    try:
        text = str(e)
    except Exception:
        text = "[Unprintable]"
    return type(e).__name__ + (": " + text if text else "")


class Fail(Exception):
    def __init__(self, reason, variant=None):
        Exception.__init__(self, reason)
        self.reason = reason
        self.variant = variant


class OutOfMemory(Exception):
    pass


_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, range)
_BUILTIN_LEAVES = _IMMUTABLE + (bytearray,)


def _immutable(v):
    t = type(v)
    if t in _IMMUTABLE:
        return True
    if t is tuple or t is frozenset:
        return all(_immutable(x) for x in v)
    mods = sys.modules
    for mod, names in (("datetime", ("datetime", "date", "time", "timedelta")), ("decimal", ("Decimal",)), ("fractions", ("Fraction",)), ("uuid", ("UUID",))):
        m = mods.get(mod)
        if m is not None and any(t is getattr(m, n, None) for n in names):
            return True
    enum = mods.get("enum")
    return enum is not None and isinstance(v, enum.Enum)


_PICKLE_HOOKS = ("__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__getnewargs__", "__getnewargs_ex__", "__copy__", "__deepcopy__")


def _plain_class(t):
    """A class whose instances pickle as decode rebuilds them: __new__, then the fields."""
    try:
        for k in t.__mro__:
            if k is object:
                continue
            if k.__module__ == "builtins" or "__slots__" in k.__dict__ or any(h in k.__dict__ for h in _PICKLE_HOOKS):
                return False
        return True
    except Exception:
        return False


def _copyable(v):
    """Whether a pickle round trip rebuilds v as decode would (builtin values, plain instances)."""
    t = type(v)
    if t in _BUILTIN_LEAVES or _immutable(v):
        return True
    if t is list or t is tuple or t is set or t is frozenset:
        return all(_copyable(x) for x in v)
    if t is dict:
        return all(_copyable(k) and _copyable(x) for k, x in v.items())
    if _plain_class(t):
        try:
            fields = object.__getattribute__(v, "__dict__")
        except Exception:
            fields = {}
        return type(fields) is dict and all(_copyable(x) for x in fields.values())
    return False


class Call(object):
    """One recorded call: how to rebuild its (args, kwargs) fresh, outside the clock."""

    __slots__ = ("i", "raw", "threw", "shared", "blob", "weight")

    def __init__(self, i, raw, threw):
        self.i = i
        self.raw = raw
        self.threw = threw
        self.shared = None
        self.blob = None
        self.weight = 0

    def prepare(self, decoded):
        a, k = decoded
        if all(_immutable(x) for x in a) and all(_immutable(x) for x in k.values()):
            self.shared = (tuple(a), k)
            return
        self.weight = len(json.dumps(self.raw))
        if _copyable(a) and _copyable(k):
            try:
                blob = pickle.dumps((a, k), pickle.HIGHEST_PROTOCOL)
                pickle.loads(blob)
                self.blob = blob
            except Exception:
                self.blob = None

    def fresh(self):
        if self.shared is not None:
            return self.shared
        if self.blob is not None:
            return pickle.loads(self.blob)
        return decode_args(self.raw)


def _module_name(real, entries):
    for e in entries:
        try:
            rel = os.path.relpath(real, os.path.realpath(e))
        except ValueError:
            continue
        if rel.startswith(os.pardir) or os.path.isabs(rel) or not rel.endswith(".py"):
            continue
        parts = rel[:-3].split(os.sep)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(p.isidentifier() for p in parts):
            return ".".join(parts)
    return None


def _same_file(mod, real):
    f = getattr(mod, "__file__", None)
    try:
        return f is not None and os.path.realpath(f) == real
    except Exception:
        return False


_loaded = {}


def _load(file, entries):
    real = os.path.realpath(file)
    if real in _loaded:
        return _loaded[real]
    if not os.path.isfile(real):
        raise Fail("cannot load %s: no such file" % file)
    first = None
    name = _module_name(real, entries)
    if name is not None:
        try:
            mod = importlib.import_module(name)
            if _same_file(mod, real):
                _loaded[real] = mod
                return mod
        except MemoryError:
            raise OutOfMemory()
        except Exception as e:
            first = e
    # Not importable by a dotted name (or another module has that name): by its path.
    synthetic = "crucible_bench_" + "".join(c if c.isalnum() else "_" for c in os.path.relpath(real)[:-3])
    try:
        spec = importlib.util.spec_from_file_location(synthetic, real)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[synthetic] = mod
        spec.loader.exec_module(mod)
    except MemoryError:
        raise OutOfMemory()
    except Exception as e:
        sys.modules.pop(synthetic, None)
        raise Fail("cannot load %s: %s" % (file, _msg(first or e)))
    _loaded[real] = mod
    return mod


_MISSING = object()


def _static_lookup(cls, name):
    for k in getattr(cls, "__mro__", (cls,)):
        d = getattr(k, "__dict__", {})
        if name in d:
            return d[name]
    return _MISSING


def _walk(start, parts, qn):
    """(holder class or None, raw attribute) for parts under start (a dict or a module), or raises Fail."""
    if isinstance(start, dict):
        obj = start.get(parts[0], _MISSING)
    else:
        obj = getattr(start, parts[0], _MISSING)
    if obj is _MISSING:
        raise LookupError(parts[0])
    holder = None
    for p in parts[1:]:
        if inspect.isclass(obj):
            raw = _static_lookup(obj, p)
            if raw is _MISSING:
                raise LookupError(p)
            holder, obj = obj, raw
        elif isinstance(obj, types.ModuleType):
            holder, obj = None, getattr(obj, p, _MISSING)
            if obj is _MISSING:
                raise LookupError(p)
        elif inspect.isfunction(obj):
            raise Fail("%s is a nested function (a closure): it is not reachable from its module, so its calls cannot be replayed" % qn)
        else:
            raise Fail("%s is not reachable from its module through classes (only functions and methods can be replayed)" % qn)
    return holder, obj


def _classify(holder, raw, qn):
    """(function, mode, notes): mode 'function', 'method' (self first), 'static', 'classmethod'."""
    notes = []
    mode = "function"
    fn = raw
    if holder is not None:
        if isinstance(raw, staticmethod):
            fn, mode = raw.__func__, "static"
        elif isinstance(raw, classmethod):
            fn, mode = raw.__func__, "classmethod"
        elif isinstance(raw, property):
            if raw.fget is None:
                raise Fail("%s is a property without a getter" % qn)
            fn, mode = raw.fget, "method"
        elif type(raw).__name__ == "cached_property" and hasattr(raw, "func"):
            fn, mode = raw.func, "method"
        elif callable(raw) and not inspect.isclass(raw):
            mode = "method"
        else:
            raise Fail("%s is not a function or method" % qn)
    else:
        if isinstance(raw, (staticmethod, classmethod)):
            fn = raw.__func__
    if inspect.isclass(fn):
        raise Fail("%s is a class: constructors are not benchmarked (its methods are)" % qn)
    if not callable(fn):
        raise Fail("%s is not a function" % qn)
    try:
        inner = inspect.unwrap(fn)
    except Exception:
        inner = fn
    if inner is not fn:
        notes.append("%s is decorated: the undecorated function is timed (the recorded arguments are its own)" % qn)
        fn = inner
    if inspect.iscoroutinefunction(fn):
        raise Fail("%s is a coroutine function (async def): awaiting it needs an event loop, not benchmarked" % qn)
    if inspect.isasyncgenfunction(fn):
        raise Fail("%s is an async generator: not benchmarked" % qn)
    return fn, mode, notes


class Variant(object):
    def __init__(self, label):
        self.label = label
        self.fn = None
        self.mode = "function"
        self.holder = None
        self.self_class = None
        self.drain = False
        self.batch = 1
        self.rebuild = 0.0  # ns to rebuild the arguments of one pass (outside the clock)
        self.samples = []
        self.warm = []
        self.diverged = -1
        self.error = None


def _locate(v, spec, entries):
    qn = spec["qualifiedName"]
    parts = qn.split(".")
    if not parts or not all(p.isidentifier() for p in parts):
        raise Fail("%s: not a Python qualified name (a redefinition such as name~2 is not replayed)" % qn)
    mod = _load(spec["file"], entries)
    try:
        orig_holder, orig_raw = _walk(mod, parts, qn)
    except LookupError:
        orig_holder, orig_raw = _MISSING, _MISSING
    source = spec.get("source")
    if source is None:
        if orig_raw is _MISSING:
            raise Fail("%s is not defined at the top level of its module or in a class of it (nested functions cannot be replayed)" % qn)
        holder, raw = orig_holder, orig_raw
    else:
        # A candidate: its text run in a copy of the module's namespace, so it sees the
        # module's names while the module itself (and the original) stay as they were.
        ns = dict(vars(mod))
        try:
            code = compile(source, "<variant %s>" % v.label, "exec")
            exec(code, ns)
        except MemoryError:
            raise OutOfMemory()
        except Exception as e:
            raise Fail("the source of variant %s does not run: %s" % (v.label, _msg(e)))
        try:
            holder, raw = _walk(ns, parts, qn)
            if len(parts) > 1 and holder is not None and orig_raw is not _MISSING and _static_lookup(orig_holder, parts[-1]) is raw:
                raise LookupError(qn)  # the class was not redefined: look for the function alone
        except LookupError:
            raw = ns.get(parts[-1], _MISSING)
            if raw is _MISSING or (len(parts) == 1 and raw is orig_raw) or (len(parts) > 1 and raw is mod.__dict__.get(parts[-1], _MISSING)):
                raise Fail("the source of variant %s defines neither %s nor %s" % (v.label, qn, parts[-1]))
            holder = orig_holder if orig_holder is not _MISSING else None
            if holder is not None:
                # The candidate replaces one method: same kind as the original's (static, class, instance).
                if isinstance(orig_raw, staticmethod) and not isinstance(raw, staticmethod):
                    raw = staticmethod(raw)
                elif isinstance(orig_raw, classmethod) and not isinstance(raw, classmethod):
                    raw = classmethod(raw)
    v.fn, v.mode, notes = _classify(holder, raw, qn)
    v.holder = holder
    if v.mode == "method":
        # The recorded self is rebuilt from its __class/__module: an instance of the module's class.
        v.self_class = orig_holder if orig_holder not in (None, _MISSING) else holder
    v.drain = inspect.isgeneratorfunction(v.fn)
    if v.drain:
        notes.append("%s is a generator function: each timed call includes draining the generator" % qn)
    return notes


def _adapt(v, a):
    """The positional arguments for variant v (a classmethod gets its class instead of the recorded one)."""
    if v.mode == "classmethod":
        return (v.holder,) + tuple(a[1:])
    return a


def _usable(v, a):
    """Why a decoded call cannot be replayed on variant v, or None."""
    if v.mode == "classmethod":
        return None if len(a) >= 1 else "not-an-argument-list"
    for i, x in enumerate(a):
        if type(x) is str and (x.startswith("[Class ") or x.startswith("[Module ")) and x.endswith("]"):
            return "class-or-module"
    if v.mode == "method":
        if len(a) == 0 or v.self_class is None or not isinstance(a[0], v.self_class):
            return "self"
    return None


def _drain_run(fn, sets, expect, n, state):
    t0 = time.perf_counter_ns()
    for i in range(len(sets)):
        a, k = sets[i]
        try:
            for _ in fn(*a, **k):
                pass
        except Exception as e:
            if not expect[i % n] and state.diverged < 0:
                state.diverged, state.error = i % n, e
    return time.perf_counter_ns() - t0


def _plain_run(fn, sets, expect, n, state):
    t0 = time.perf_counter_ns()
    for i in range(len(sets)):
        a, k = sets[i]
        try:
            fn(*a, **k)
        except Exception as e:
            if not expect[i % n] and state.diverged < 0:
                state.diverged, state.error = i % n, e
    return time.perf_counter_ns() - t0


def _median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[(n - 1) // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def _bump(skipped, reason):
    skipped[reason] = skipped.get(reason, 0) + 1


def _memory_limit_bytes():
    """The limit the supervisor (supervise.ts) gives this worker; 0: none."""
    try:
        return int(os.environ.get("CRUCIBLE_WORKER_MEMORY_MB") or 0) * 1024 * 1024
    except ValueError:
        return 0


def run(job):
    deadline = job["deadline"]
    notes = []
    skipped = _skipped_so_far

    # 0. limits and sys.path
    limit = _memory_limit_bytes()
    if limit:
        try:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
            if soft == resource.RLIM_INFINITY or soft > cap:
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        except Exception as e:
            notes.append("no memory limit for the worker (resource.setrlimit(RLIMIT_AS) unavailable: %s)" % _msg(e))
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    entries = [os.path.realpath(p) for p in job["sysPath"]]
    for p in reversed(entries):
        if p in sys.path:
            sys.path.remove(p)
        sys.path.insert(0, p)

    # 1. load and locate
    variants = []
    for spec in job["variants"]:
        v = Variant(spec["label"])
        _tell(phase="load", variant=v.label)
        d = os.path.dirname(os.path.realpath(spec["file"]))
        if d not in sys.path:
            sys.path.append(d)
        try:
            for note in _locate(v, spec, entries + [d]):
                if note not in notes:
                    notes.append(note)
        except Fail as f:
            raise Fail(f.reason, v.label)
        variants.append(v)

    # 2. which calls can be rebuilt
    calls = []
    for i, c in enumerate(job["calls"]):
        try:
            decoded = decode_args(c["args"])
        except MemoryError:
            raise OutOfMemory()
        except (ImportError, AttributeError, ValueError) as e:
            _bump(skipped, "unknown-class")
            continue
        except Exception:
            _bump(skipped, "unknown-type")
            continue
        why = None
        for v in variants:
            why = why or _usable(v, decoded[0])
        if why:
            _bump(skipped, why)
            continue
        call = Call(len(calls), c["args"], bool(c.get("threw")))
        call.prepare(decoded)
        calls.append(call)
    if not calls:
        raise Fail("no-replayable")

    # 3. verification pass
    n = len(calls)
    expect = [c.threw for c in calls]
    now_returns = 0
    share = max(50.0, (deadline - _now_ms()) * 0.25 / len(variants))
    for v in variants:
        stop = _now_ms() + share
        i = 0
        while i < n:
            _tell(phase="verify", variant=v.label, call=i)
            a, k = calls[i].fresh()
            a = _adapt(v, a)
            threw = None
            try:
                r = v.fn(*a, **k)
                if inspect.isgenerator(r):
                    v.drain = True
                    for _ in r:
                        pass
                elif inspect.iscoroutine(r) or inspect.isasyncgen(r):
                    try:
                        r.close() if inspect.iscoroutine(r) else None
                    except Exception:
                        pass
                    raise Fail("%s returned a coroutine or async generator: not benchmarked" % v.label, v.label)
            except Fail:
                raise
            except MemoryError:
                raise OutOfMemory()
            except Exception as e:
                threw = e
            r = None
            if threw is not None and not expect[i]:
                raise Fail("replay diverged: recorded call #%d raised %s on replay but did not raise when it was recorded" % (i, _msg(threw)), v.label)
            if threw is None and expect[i]:
                now_returns += 1
            if _now_ms() > stop and i + 1 < n:
                notes.append("only the first %d of %d recorded calls were replayed: a pass over all of them would not fit the time budget" % (i + 1, n))
                n = i + 1
            i += 1
    calls = calls[:n]
    expect = expect[:n]
    if now_returns > 0:
        notes.append("%d call(s) recorded as raising returned normally on replay" % now_returns)

    weight = sum(c.weight for c in calls)
    # Bound what one sample rebuilds (memory, and time outside the clock).
    max_batch = max(1, min(job["maxInvocationsPerSample"] // n, (5000000 // weight) if weight > 0 else 10 ** 12))

    def arg_sets(v, batch):
        out = []
        for _ in range(batch):
            for c in calls:
                a, k = c.fresh()
                out.append((_adapt(v, a), k))
        return out

    gc_was = gc.isenabled()
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()  # what is alive now (modules, recorded calls) is left out of later collections

    def sample(v):
        gc.collect()
        t0 = time.perf_counter_ns()
        sets = arg_sets(v, v.batch)
        v.rebuild = (time.perf_counter_ns() - t0) / float(v.batch)
        runner = _drain_run if v.drain else _plain_run
        gc.disable()
        try:
            ns = runner(v.fn, sets, expect, n, v)
        finally:
            if gc_was:
                gc.enable()
        if v.diverged >= 0:
            if isinstance(v.error, MemoryError):
                raise OutOfMemory()
            raise Fail("replay diverged: recorded call #%d raised %s on a repeated replay but did not raise when it was recorded (does it depend on state a previous call changed?)" % (v.diverged, _msg(v.error)), v.label)
        return ns

    # 4. warm-up and batch calibration, interleaved
    now0 = _now_ms()
    warm_for = min(job["warmupMs"] * len(variants), (deadline - now0) * 0.3)
    warm_max = min(job["warmupMs"] * len(variants) * 3, (deadline - now0) * 0.4)
    sampling_ns = (deadline - now0) * 0.55 * 1e6
    target_ns = max(job["minSampleNs"], min(job["maxSampleNs"], (sampling_ns * 0.6) / (job["maxSamples"] * len(variants))))

    def settled(v):
        if len(v.warm) < 6:
            return False
        a = _median(v.warm[-3:])
        b = _median(v.warm[-6:-3])
        return abs(a - b) <= 0.1 * b

    _tell(phase="warmup")
    rnd = 0
    while True:
        elapsed = _now_ms() - now0
        if elapsed >= warm_max:
            break
        if elapsed >= warm_for and rnd >= 2 and all(settled(v) for v in variants):
            break
        for v in variants:
            ns = sample(v)
            # A sample lasts at least minSampleNs on the clock; beyond that the batch grows
            # until the whole sample, rebuilding its arguments included, takes targetNs.
            need = max(job["minSampleNs"] / max(ns, 1), target_ns / max(ns + v.rebuild * v.batch, 1))
            if need > 1 and v.batch < max_batch:
                grow = min(16, max(2, int(math.ceil(need * 1.1))))
                v.batch = min(max_batch, v.batch * grow)
                v.warm = []
            else:
                v.warm.append(ns / float(v.batch * n))
        rnd += 1
    if len(variants) > 1 and all(v.warm for v in variants):
        at_least, to_target = 1, max_batch
        for v in variants:
            pass_ns = _median(v.warm) * n
            at_least = max(at_least, int(math.ceil(job["minSampleNs"] / pass_ns)))
            to_target = min(to_target, int(math.ceil(target_ns / (pass_ns + v.rebuild))))
        common = min(max_batch, max(at_least, to_target))
        for v in variants:
            v.batch = common
    for v in variants:
        if v.batch >= max_batch and v.warm and _median(v.warm) * v.batch * n < job["minSampleNs"]:
            notes.append("%s: a sample takes less than %g ms even at the largest batch (%d passes): timer resolution weighs more" % (v.label, job["minSampleNs"] / 1e6, v.batch))
        if not settled(v):
            notes.append("%s: timings were still changing at the end of the warm-up" % v.label)

    # 5. interleaved rounds
    rounds = 0
    last_round_ms = 0.0
    margin = 50
    for r in range(job["maxSamples"]):
        if _now_ms() + last_round_ms * 1.2 + margin > deadline:
            break
        _tell(phase="sample", round=r)
        t0 = _now_ms()
        for k in range(len(variants)):
            v = variants[(r + k) % len(variants)]
            ns = sample(v)
            v.samples.append(ns / float(v.batch * n))
        rounds += 1
        last_round_ms = _now_ms() - t0
    if rounds == 0:
        raise Fail("no time left for any sample after loading, verifying and warming up: raise crucible.bench.maxSecondsPerArtifact")
    return {
        "type": "done",
        "calls": n,
        "rounds": rounds,
        "notes": notes,
        "skipped": skipped,
        "variants": [{"label": v.label, "samplesNs": v.samples, "batch": v.batch, "async": False} for v in variants],
    }


def main():
    global _out
    _out = os.fdopen(3, "w", encoding="utf-8")
    with open(sys.argv[1], encoding="utf-8") as fh:
        job = json.load(fh)
    limit = _memory_limit_bytes()
    try:
        msg = run(job)
    except Fail as f:
        msg = {"type": "fail", "reason": f.reason}
        if f.variant is not None:
            msg["variant"] = f.variant
    except (OutOfMemory, MemoryError):
        msg = {"type": "fail", "reason": "the benchmark worker ran out of memory (RLIMIT_AS %d MiB)" % (limit // (1024 * 1024))}
    except Exception as e:
        msg = {"type": "fail", "reason": "benchmark worker failed: " + _msg(e)}
    if msg["type"] == "fail":
        msg["skipped"] = _skipped_so_far
    _send(msg)


_skipped_so_far = {}

if __name__ == "__main__":
    main()
