"""Crucible's pytest reporter plugin (loaded with -p crucible_pytest_reporter).

run.ts copies it into the run's temp directory, puts that first on PYTHONPATH and
sets CRUCIBLE_RUNNER_EVENTS to an NDJSON file. One line per test from its call
phase, or from a setup/teardown that did not pass:
  {"file": absolute, "titlePath": [...], "status", "durationMs", "error"?}
and {"fileError": absolute, "message"} for a file that could not be collected.
"""
import json
import os
import re

_out = None
_root = None

def _write(obj):
    global _out
    if _out is None:
        _out = open(os.environ["CRUCIBLE_RUNNER_EVENTS"], "a", encoding="utf-8")
    _out.write(json.dumps(obj) + "\n")
    _out.flush()

def pytest_configure(config):
    global _root
    _root = str(config.rootpath) if hasattr(config, "rootpath") else str(config.rootdir)

def _message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    text = report.longreprtext or ""
    return text.strip().splitlines()[-1] if text.strip() else "failed"

def pytest_runtest_logreport(report):
    status = None
    if report.when == "call":
        status = "skipped" if report.skipped else report.outcome
    elif report.when == "setup" and not report.passed:
        status = "skipped" if report.skipped else "failed"
    elif report.when == "teardown" and report.failed:
        status = "failed"
    if status is None:
        return
    parts = report.nodeid.split("::")
    titles = parts[1:]
    if titles:
        titles[-1] = re.sub(r"\[.*\]$", "", titles[-1])
    event = {
        "file": os.path.join(_root, parts[0]),
        "titlePath": titles,
        "status": status,
        "durationMs": report.duration * 1000.0,
    }
    if status == "failed":
        event["error"] = {"message": _message(report), "stack": report.longreprtext}
    _write(event)

def pytest_collectreport(report):
    if report.failed:
        path = report.nodeid.split("::")[0]
        _write({"fileError": os.path.join(_root, path), "message": report.longreprtext})
