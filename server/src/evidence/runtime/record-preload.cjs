// @ts-check
/**
 * The recording preload (record.ts runs it): it is loaded into every Node process
 * of a test run through `NODE_OPTIONS=--require <it>` (workers and per-file
 * subprocesses inherit it), and mocha also gets it as a root-hook plugin.
 *
 * In each process it
 * - starts V8 precise coverage (call counts, block ranges) through an
 *   in-process `node:inspector` session, and at every test boundary takes it
 *   (which resets the counters), so what ran between two boundaries belongs to
 *   the test in between;
 * - wraps exported functions and class methods of the workspace's CommonJS
 *   modules (under vitest, of the modules in vite-node's module cache; under
 *   jest, of the CommonJS modules of jest-runtime's registry, manual mocks and
 *   `jest.fn()`s left alone) in a Proxy that records the first calls: arguments
 *   before and after, result or thrown error, duration;
 * - appends NDJSON lines to `$CRUCIBLE_RECORD_DIR/rec-<pid>-<thread>.ndjson`:
 *   `{type:'script', s, file, map}` once per workspace script (`map` is the raw
 *   `sourceMappingURL`), `{type:'coverage', test, scope, scripts:[{s, functions:
 *   [{name, ranges:[[startLine, startCol, endLine, endCol, count]…]}]}]}` per take
 *   (generated positions, 0-based), and `{type:'call', file, name, fnName, test, sample}`.
 *
 * Test boundaries: mocha root hooks (`beforeEach`/`afterEach` of the root
 * suite); vitest the worker state's `current` task (set by vitest's runner right
 * before a test's `beforeEach` hooks and after its `afterEach` hooks); node:test:
 * in its per-file subprocess, the reporter stream's `test:dequeue` (right before
 * a test's hooks and body) and `test:complete` (after its `afterEach` hooks)
 * events, subtests included; what runs outside a test there (module loading,
 * suites' own hooks), or everything once tests overlap (concurrency), is the
 * file's (scope `file`); jest (jest-circus): the test environment's
 * `handleTestEvent`, added to (or chained with) each environment when its
 * jest-runtime Runtime first requires anything: `test_start` (before the test's
 * `beforeEach` hooks) to `test_done` (after its `afterEach` hooks); a test file
 * with concurrent tests is the file's. Anything else: the whole process, no test.
 *
 * Values may come from another realm (jest runs tests in a vm context): the
 * serialiser uses brand checks (`util.types`), not `instanceof`.
 *
 * It must never change an outcome: every step is in try/catch, calls are
 * forwarded with `Reflect.apply` (same `this`, same arguments, same result or
 * the same thrown value), constructors are not wrapped, and it stays out when
 * V8 coverage is already being collected (`NODE_V8_COVERAGE`).
 */
'use strict';
/**
 * Most parameters below are the test frameworks' own objects (mocha's runner, vitest's worker
 * state, jest-runtime's internals) or the workspace's values: typed `any` where they are.
 * @typedef {{ file: string, titlePath: string[] }} TestRef  a test as the reporters name it
 * @typedef {{ s: number, lineStarts: number[], shift: number }} ScriptInfo  a workspace script: its number in the NDJSON, where its lines start
 * @typedef {[number, number, number, number, number]} Range  startLine, startCol, endLine, endCol, count
 * @typedef {{ s: number, functions: { name: string, ranges: Range[] }[] }} ScriptCoverage
 * @typedef {{ name: string, key: string, test: TestRef | null, chunks: ScriptCoverage[][] }} OpenNodeTest  a node:test test or suite that is running
 * @typedef {{
 *   exports: { mochaHooks?: Record<string, (this: any) => void> },
 *   mochaRunner?: (runner: any) => void,
 *   serialise?: (value: unknown) => unknown,
 * }} RecorderState  what other programs (the mocha reporter, tests) reach through Symbol.for('crucible.record')
 */
const KEY = Symbol.for('crucible.record');
const registry = /** @type {Record<symbol, RecorderState | undefined>} */ (/** @type {unknown} */ (globalThis));
if (!registry[KEY]) registry[KEY] = crucibleStart();
module.exports = /** @type {RecorderState} */ (registry[KEY]).exports;

/** @returns {RecorderState} */
function crucibleStart() {
  /** @type {RecorderState} */
  const state = { exports: {} };
  const root = process.env.CRUCIBLE_RECORD_ROOT;
  const dir = process.env.CRUCIBLE_RECORD_DIR;
  if (!root || !dir || process.env.NODE_V8_COVERAGE) return state;
  // node:test's orchestrator ("node --test" without NODE_TEST_CONTEXT) only spawns a process per
  // test file and runs none of the workspace's code: no coverage there (it costs every process).
  if (process.execArgv.includes('--test') && !process.env.NODE_TEST_CONTEXT) return state;
  const fs = require('fs');
  const path = require('path');
  const url = require('url');
  // Module.prototype._compile and load are internals: not in the typings.
  const Module = /** @type {any} */ (require('module'));
  let inspector;
  try { inspector = require('inspector'); } catch (e) { return state; }
  let threadId = 0;
  try { threadId = require('worker_threads').threadId; } catch (e) {}
  const out = path.join(dir, 'rec-' + process.pid + '-' + threadId + '.ndjson');
  const maxSamples = Number(process.env.CRUCIBLE_RECORD_SAMPLES) || 20;
  // Crucible's own programs (this one, the reporters) sit together: none of them is the workspace's.
  const ownDir = path.dirname(__filename) + path.sep;
  /** @type {number | undefined} */
  let fd;
  /** @param {object} obj one NDJSON line */
  function write(obj) {
    try {
      if (fd === undefined) fd = fs.openSync(out, 'a');
      fs.writeSync(fd, JSON.stringify(obj) + '\n');
    } catch (e) {}
  }
  const session = new inspector.Session();
  try { session.connect(); } catch (e) { return state; }
  /**
   * The inspector's answer, synchronously (the in-process session calls back before post returns).
   * @param {string} method
   * @param {object} [params]
   * @returns {any}
   */
  function post(method, params) {
    /** @type {Error | null | undefined} */
    let err;
    /** @type {any} */
    let res;
    /** @type {(method: string, params: object, callback: (e: Error | null, r: any) => void) => void} */ (session.post)(method, params || {}, (e, r) => { err = e; res = r; });
    if (err) throw err;
    return res;
  }
  try {
    post('Profiler.enable');
    post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  } catch (e) { return state; }
  // The debugger (for the source of scripts V8 ran) is enabled only when a script's source was
  // not seen by Module.prototype._compile (ESM, vite-node): it costs every process ~0.1 s.
  let debuggerOn = false;
  function enableDebugger() {
    if (debuggerOn) return;
    debuggerOn = true;
    post('Debugger.enable');
    // A debugger statement must not stop a process whose only debugger is us.
    post('Debugger.setSkipAllPauses', { skip: true });
  }
  /** @type {Map<string, string>} */
  const compiledSources = new Map();

  const rootPrefix = root.endsWith(path.sep) ? root : root + path.sep;
  const nm = path.sep + 'node_modules' + path.sep;
  /**
   * The absolute path of a file of the workspace (not node_modules, not ours), else undefined.
   * @param {string | undefined} u a path or a file:// URL
   */
  function workspacePath(u) {
    if (!u) return undefined;
    let p = u;
    if (p.startsWith('file://')) { try { p = url.fileURLToPath(p); } catch (e) { return undefined; } }
    if (!p.startsWith(rootPrefix) || p.includes(nm) || p.startsWith(ownDir)) return undefined;
    return p;
  }

  // ---- coverage ----
  /** @type {Map<string, ScriptInfo | null>} */
  const scripts = new Map();
  let scriptCount = 0;
  /**
   * @param {string} scriptId
   * @param {string} u
   * @param {number} extent the module function's length
   * @returns {ScriptInfo | null}
   */
  function describeScript(scriptId, u, extent) {
    if (scripts.has(scriptId)) return /** @type {ScriptInfo | null} */ (scripts.get(scriptId));
    let info = null;
    const file = workspacePath(u);
    if (file) {
      // CommonJS: the text _compile got is the script V8 ran (compileFunction, no textual wrapper)
      // when its length is the module function's extent; anything else asks the debugger.
      let source = compiledSources.get(file);
      if (source === undefined || source.length !== extent) {
        source = '';
        try { enableDebugger(); source = /** @type {string} */ (post('Debugger.getScriptSource', { scriptId }).scriptSource); } catch (e) {}
      }
      const lineStarts = [0];
      for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) lineStarts.push(i + 1);
      // vite-node runs a module inside a wrapper of its own, on the code's first line.
      const wrapper = /^'use strict';async \([^)]*\)=>\{\{/.exec(source);
      const at = source.lastIndexOf('sourceMappingURL=');
      let map = null;
      if (at >= 0 && /\/\/[#@] $/.test(source.slice(Math.max(0, at - 4), at))) map = source.slice(at + 17).split(/\s/)[0];
      info = { s: scriptCount++, lineStarts, shift: wrapper ? wrapper[0].length : 0 };
      write({ type: 'script', s: info.s, file, map });
    }
    scripts.set(scriptId, info);
    return info;
  }
  /**
   * @param {ScriptInfo} info
   * @param {number} offset
   * @returns {[number, number]}
   */
  function position(info, offset) {
    const starts = info.lineStarts;
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid] <= offset) lo = mid; else hi = mid - 1; }
    let col = offset - starts[lo];
    if (lo === 0) col = Math.max(0, col - info.shift);
    return [lo, col];
  }
  /** @returns {ScriptCoverage[]} */
  function take() {
    /** @type {any} */
    let res;
    try { res = post('Profiler.takePreciseCoverage'); } catch (e) { return []; }
    /** @type {ScriptCoverage[]} */
    const taken = [];
    for (const sc of res.result) {
      const executed = sc.functions.filter((/** @type {any} */ f) => f.ranges[0].count > 0);
      if (executed.length === 0) continue;
      const info = describeScript(sc.scriptId, sc.url, sc.functions.length > 0 ? sc.functions[0].ranges[0].endOffset : -1);
      if (!info) continue;
      /** @type {ScriptCoverage['functions']} */
      const functions = [];
      for (const f of sc.functions) {
        const r0 = f.ranges[0];
        // An unexecuted function matters only inside an executed one (its lines are not covered).
        if (r0.count === 0 && !executed.some((/** @type {any} */ e) => e.ranges[0].startOffset <= r0.startOffset && r0.endOffset <= e.ranges[0].endOffset)) continue;
        const ranges = (r0.count === 0 ? [r0] : f.ranges).map((/** @type {any} */ r) => /** @type {Range} */ ([...position(info, r.startOffset), ...position(info, r.endOffset), r.count]));
        functions.push({ name: f.functionName, ranges });
      }
      taken.push({ s: info.s, functions });
    }
    return taken;
  }
  /** @type {TestRef | null} */
  let current = null;
  /**
   * Writes what ran since the last take, as the test's (or outside any test, or the file's).
   * @param {TestRef | null} test
   * @param {'test' | 'outside' | 'file'} scope
   */
  function flush(test, scope) {
    const taken = take();
    if (taken.length > 0) write({ type: 'coverage', test, scope, scripts: taken });
  }
  /** @param {TestRef} test */
  function testBegin(test) {
    if (current) testEnd();
    flush(null, 'outside');
    current = test;
  }
  function testEnd() {
    if (!current) return;
    const test = current;
    flush(test, 'test');
    current = null;
  }
  // node:test runs each file in a subprocess of its own: what runs outside a test is that file's.
  const nodeTestFile = process.env.NODE_TEST_CONTEXT && process.argv[1] ? path.resolve(process.argv[1]) : undefined;
  /** @type {{ open: OpenNodeTest[], stacks: Map<string, string[]>, off: boolean }} */
  const nodeTest = { open: [], stacks: new Map(), off: false };
  function fileFlush() { flush({ file: /** @type {string} */ (nodeTestFile), titlePath: [] }, 'file'); }
  // What ran since the last event goes to the innermost open test or suite (kept until it completes), else to the file.
  function nodeTestTake() {
    const top = nodeTest.open[nodeTest.open.length - 1];
    if (!top) { fileFlush(); return; }
    const taken = take();
    if (taken.length > 0) top.chunks.push(taken);
  }
  /**
   * @param {OpenNodeTest} entry
   * @param {boolean} isTest
   */
  function nodeTestWrite(entry, isTest) {
    for (const scripts of entry.chunks) {
      if (isTest && entry.test) write({ type: 'coverage', test: entry.test, scope: 'test', scripts });
      else write({ type: 'coverage', test: { file: nodeTestFile, titlePath: [] }, scope: 'file', scripts });
    }
    entry.chunks = [];
  }
  // Tests running concurrently cannot be told apart: from then on, everything is the file's.
  function nodeTestGiveUp() {
    nodeTest.off = true;
    try { nodeTestTake(); } catch (e) {}
    for (const entry of nodeTest.open) nodeTestWrite(entry, false);
    nodeTest.open = [];
  }
  /**
   * @param {string} type
   * @param {any} data
   */
  function nodeTestEvent(type, data) {
    if (nodeTest.off || !data || typeof data !== 'object') return;
    if (type !== 'test:dequeue' && type !== 'test:complete') return;
    const nesting = data.nesting;
    if (typeof nesting !== 'number' || nesting < 0 || typeof data.name !== 'string') return;
    const key = data.file === undefined || data.file === null ? '' : String(data.file);
    if (type === 'test:dequeue') {
      // Right before the test (or suite) runs: its before/beforeEach hooks, body, subtests, afterEach hooks.
      if (nodeTest.open.length !== nesting) { nodeTestGiveUp(); return; }
      nodeTestTake();
      // The title path as the reporter builds it (per file, from the nesting).
      const stack = nodeTest.stacks.get(key) || [];
      stack.length = nesting;
      stack.push(data.name);
      nodeTest.stacks.set(key, stack);
      const test = key ? { file: path.resolve(key.startsWith('file://') ? url.fileURLToPath(key) : key), titlePath: stack.slice() } : null;
      nodeTest.open.push({ name: data.name, key, test, chunks: [] });
      return;
    }
    // test:complete, after the test's afterEach hooks.
    const top = nodeTest.open[nodeTest.open.length - 1];
    if (nodeTest.open.length - 1 !== nesting || top.name !== data.name || top.key !== key) {
      // Completed without having run (cancelled, filtered): nothing of ours.
      if (nodeTest.open.length <= nesting) return;
      nodeTestGiveUp();
      return;
    }
    nodeTestTake();
    nodeTest.open.pop();
    const isSuite = data.details && data.details.type === 'suite';
    nodeTestWrite(top, !isSuite);
  }
  function currentNodeTest() {
    for (let i = nodeTest.open.length - 1; i >= 0; i--) if (nodeTest.open[i].test) return nodeTest.open[i].test;
    return null;
  }
  // node:test's reporter stream (a Readable, TestsStream) emits test:dequeue right before a
  // test runs and test:complete after it: catch the stream at its first test event.
  function hookNodeTestStream() {
    const Readable = require('stream').Readable;
    const proto = Readable.prototype;
    const hasOwn = Object.prototype.hasOwnProperty;
    const defineProp = Object.defineProperty;
    if (hasOwn.call(proto, 'emit')) return;
    const base = Object.getPrototypeOf(proto);
    defineProp(proto, 'emit', {
      configurable: true,
      writable: true,
      enumerable: false,
      /**
       * @this {any}
       * @param {string | symbol} type
       * @param {any} data
       */
      value: function emit(type, data) {
        try {
          if (typeof type === 'string' && type.startsWith('test:') && this && this.constructor && this.constructor.name === 'TestsStream' && hasOwn.call(proto, 'emit')) {
            delete /** @type {any} */ (proto).emit;
            const stream = this;
            const inherited = Object.getPrototypeOf(stream);
            defineProp(stream, 'emit', {
              configurable: true,
              writable: true,
              enumerable: false,
              /**
               * @this {any}
               * @param {string} type
               * @param {any} data
               */
              value: function emit(type, data) {
                if (this === stream) { try { nodeTestEvent(type, data); } catch (e) {} }
                return Reflect.apply(inherited.emit, this, arguments);
              },
            });
            try { nodeTestEvent(type, data); } catch (e) {}
          }
        } catch (e) {}
        return Reflect.apply(base.emit, this, arguments);
      },
    });
  }
  if (nodeTestFile) { try { hookNodeTestStream(); } catch (e) {} }
  process.on('exit', () => {
    try {
      if (current) testEnd();
      if (nodeTestFile) {
        if (nodeTest.open.length > 0) nodeTestGiveUp();
        fileFlush();
      } else flush(null, 'outside');
    } catch (e) {}
  });

  // mocha ≥ 8: root hook plugin (the same module, also given to mocha as --require).
  // mocha < 8 ignores root hook plugins: there the Runner's own events, handed over by
  // Crucible's mocha reporter (state.mochaRunner), mark the windows until a root hook is
  // seen. A window opens at a test's 'test' event (before its beforeEach hooks) and closes
  // when a suite-level hook starts ("before all"/"after all": not the test's), a suite
  // ends, the next test starts, or the run ends, so its afterEach hooks fall inside it, as
  // with root hooks. CRUCIBLE_RECORD_MOCHA_EVENTS=1 uses the events on any mocha (tests).
  const mochaEventsOnly = process.env.CRUCIBLE_RECORD_MOCHA_EVENTS === '1';
  let mochaRootHooksSeen = false;
  state.exports.mochaHooks = {
    beforeEach() {
      if (mochaEventsOnly) return;
      mochaRootHooksSeen = true;
      try {
        const t = this.currentTest;
        if (t) testBegin({ file: t.file, titlePath: t.titlePath() });
      } catch (e) {}
    },
    afterEach() {
      if (mochaEventsOnly) return;
      try { testEnd(); } catch (e) {}
    },
  };
  /** @param {any} runner mocha's Runner */
  state.mochaRunner = function mochaRunner(runner) {
    const active = () => !mochaRootHooksSeen;
    const close = () => { try { if (active() && current) testEnd(); } catch (e) {} };
    runner.on('test', (/** @type {any} */ t) => {
      if (!active()) return;
      close();
      try { testBegin({ file: t.file, titlePath: t.titlePath() }); } catch (e) {}
    });
    runner.on('hook', (/** @type {any} */ h) => { if (h && /^"(before|after) all" hook/.test(String(h.title))) close(); });
    runner.on('suite end', close);
    runner.on('end', close);
  };

  // vitest: its runner sets the worker state's current task at each test's start and end.
  const vitestStates = new WeakSet();
  /** @param {any} task */
  function vitestTitlePath(task) {
    /** @type {string[]} */
    const names = [];
    for (let t = task; t && !('filepath' in t); t = t.suite) names.unshift(t.name);
    return names;
  }
  /** @param {any} ws vitest's worker state */
  function hookVitestState(ws) {
    if (!ws || typeof ws !== 'object' || vitestStates.has(ws)) return;
    vitestStates.add(ws);
    let cur = ws.current;
    origDefineProperty(ws, 'current', {
      configurable: true,
      enumerable: true,
      get() { return cur; },
      set(v) {
        const was = cur;
        cur = v;
        try {
          if (was && was.type === 'test' && was !== v) testEnd();
          if (v && v.type === 'test' && v !== was) {
            instrumentViteModules(ws);
            testBegin({ file: v.file && v.file.filepath, titlePath: vitestTitlePath(v) });
          }
        } catch (e) {}
      },
    });
  }
  const origDefineProperty = Object.defineProperty;
  if (process.env.VITEST || process.env.VITEST_POOL_ID || process.env.VITEST_WORKER_ID) {
    /** @type {typeof Object.defineProperty} */
    const defineProperty = function defineProperty(obj, key, desc) {
      if (obj === globalThis && key === '__vitest_worker__' && desc) { try { hookVitestState(desc.value); } catch (e) {} }
      return origDefineProperty(obj, key, desc);
    };
    origDefineProperty(Object, 'defineProperty', { value: defineProperty, writable: true, configurable: true, enumerable: false });
  }

  // jest: jest-circus calls the test environment's handleTestEvent (when it has one) at every event;
  // jest-runtime holds the environment and the test file. Each Runtime is caught at its first
  // require (before jest-circus reads handleTestEvent), and its environment gets a handleTestEvent
  // that chains the environment's own. test_start comes before a test's beforeEach hooks,
  // test_done after its afterEach hooks. Concurrent tests overlap: a file that has any is the file's.
  const jestRuntimes = new WeakSet();
  const jestEnvironments = new WeakSet();
  const jestRuntimeProtos = new WeakSet();
  const jestLoaderProtos = new WeakSet();
  /** @type {{ file: string | undefined, concurrent: boolean }} */
  const jestRun = { file: undefined, concurrent: false };
  /** @param {any} test */
  function jestTitlePath(test) {
    /** @type {string[]} */
    const names = [];
    for (let t = test; t && t.parent && names.length < 100; t = t.parent) names.unshift(String(t.name));
    return names;
  }
  /**
   * @param {any} block
   * @param {number} depth
   * @returns {boolean}
   */
  function jestHasConcurrent(block, depth) {
    if (!block || !Array.isArray(block.children) || depth > 100) return false;
    for (const c of block.children) {
      if (c && c.type === 'test' && c.concurrent) return true;
      if (c && c.type === 'describeBlock' && jestHasConcurrent(c, depth + 1)) return true;
    }
    return false;
  }
  /**
   * @param {any} event
   * @param {any} state
   * @param {string} file
   */
  function jestEvent(event, state, file) {
    const name = event && event.name;
    if (name === 'run_start') {
      if (current) testEnd();
      flush(null, 'outside');
      jestRun.file = file;
      jestRun.concurrent = jestHasConcurrent(state && state.rootDescribeBlock, 0);
    } else if (name === 'run_finish') {
      if (current) testEnd();
      if (jestRun.concurrent && jestRun.file === file) flush({ file, titlePath: [] }, 'file');
      else flush(null, 'outside');
      jestRun.file = undefined;
      jestRun.concurrent = false;
    } else if (jestRun.concurrent && jestRun.file === file) {
      return;
    } else if (name === 'test_start') {
      testBegin({ file, titlePath: jestTitlePath(event.test) });
    } else if (name === 'test_done' || name === 'test_skip' || name === 'test_todo') {
      testEnd();
    }
  }
  /**
   * @param {any} env
   * @param {unknown} testPath
   */
  function hookJestEnvironment(env, testPath) {
    if (!env || typeof env !== 'object' || typeof testPath !== 'string' || jestEnvironments.has(env)) return;
    jestEnvironments.add(env);
    const file = path.resolve(testPath);
    const theirs = env.handleTestEvent;
    origDefineProperty(env, 'handleTestEvent', {
      configurable: true,
      writable: true,
      enumerable: false,
      /**
       * @this {any}
       * @param {any} event
       * @param {any} state
       */
      value: function handleTestEvent(event, state) {
        try { jestEvent(event, state, file); } catch (e) {}
        if (typeof theirs === 'function') return Reflect.apply(theirs, this, arguments);
      },
    });
  }
  // Where a module of the test's registry has run (jest 30: CjsLoader#loadModule, before: Runtime#_loadModule).
  /**
   * @param {any} proto
   * @param {string} key
   */
  function hookJestLoader(proto, key) {
    if (!proto || jestLoaderProtos.has(proto)) return;
    const d = Object.getOwnPropertyDescriptor(proto, key);
    if (!d || typeof d.value !== 'function' || !d.writable) return;
    jestLoaderProtos.add(proto);
    const orig = d.value;
    const wrapped = {
      /**
       * @this {any}
       * @param {any} localModule
       * @param {unknown} from
       * @param {unknown} moduleName
       * @param {unknown} modulePath
       */
      [key](localModule, from, moduleName, modulePath) {
        const r = Reflect.apply(orig, this, arguments);
        try { instrumentJestModule(localModule, modulePath); } catch (e) {}
        return r;
      },
    }[key];
    origDefineProperty(proto, key, { ...d, value: wrapped });
  }
  const mocksDir = path.sep + '__mocks__' + path.sep;
  /**
   * @param {any} localModule
   * @param {unknown} modulePath
   */
  function instrumentJestModule(localModule, modulePath) {
    if (!localModule || typeof localModule !== 'object' || typeof modulePath !== 'string') return;
    const file = workspacePath(modulePath);
    // Manual mocks are what the user wrote to stand in for a module: left as they are.
    if (!file || file.includes(mocksDir) || !/\.[cm]?[jt]sx?$/.test(file)) return;
    const exp = localModule.exports;
    const wrapped = instrumentExports(exp, file);
    if (wrapped !== exp) localModule.exports = wrapped;
  }
  /** @param {any} rt a jest-runtime Runtime */
  function seeJestRuntime(rt) {
    jestRuntimes.add(rt);
    const loader = rt.cjsLoader;
    if (loader && typeof loader === 'object') hookJestLoader(Object.getPrototypeOf(loader), 'loadModule');
    hookJestEnvironment(rt._environment, rt._testPath);
  }
  /** @param {any} exp jest-runtime's exports */
  function hookJestRuntime(exp) {
    const Runtime = typeof exp === 'function' ? exp : exp && exp.default;
    const proto = typeof Runtime === 'function' ? Runtime.prototype : undefined;
    if (!proto || typeof proto !== 'object' || jestRuntimeProtos.has(proto)) return;
    jestRuntimeProtos.add(proto);
    hookJestLoader(proto, '_loadModule');
    for (const key of ['requireModule', 'requireInternalModule', 'requireModuleOrMock']) {
      const d = Object.getOwnPropertyDescriptor(proto, key);
      if (!d || typeof d.value !== 'function' || !d.writable) continue;
      const orig = d.value;
      const wrapped = {
        [key]() {
          if (this && typeof this === 'object' && !jestRuntimes.has(this)) { try { seeJestRuntime(this); } catch (e) {} }
          return Reflect.apply(orig, this, arguments);
        },
      }[key];
      origDefineProperty(proto, key, { ...d, value: wrapped });
    }
  }
  const jestRuntimeFile = /[\\/]jest-runtime[\\/]build[\\/]index\.js$/;

  // ---- call samples ----
  const proxies = new WeakSet();
  const proxyOf = new WeakMap();
  const instrumented = new WeakSet();
  const sampleCount = new Map();
  const FnToString = Function.prototype.toString;
  /** @param {Function} fn */
  function isClass(fn) {
    try { return /^class[\s{]/.test(FnToString.call(fn)); } catch (e) { return false; }
  }
  /**
   * @param {any} fn
   * @param {string} file
   * @param {string} name
   */
  function wrap(fn, file, name) {
    if (typeof fn !== 'function' || proxies.has(fn)) return fn;
    const known = proxyOf.get(fn);
    if (known) return known;
    const key = file + '#' + name;
    const proxy = new Proxy(fn, {
      apply(target, thisArg, args) {
        const n = sampleCount.get(key) || 0;
        if (n >= maxSamples) return Reflect.apply(target, thisArg, args);
        sampleCount.set(key, n + 1);
        let before;
        try { before = serialise(args); } catch (e) { before = '[Unserialisable]'; }
        const t0 = process.hrtime.bigint();
        let result;
        try {
          result = Reflect.apply(target, thisArg, args);
        } catch (err) {
          const durationNs = Number(process.hrtime.bigint() - t0);
          record(key, file, name, fn, before, args, { error: err }, durationNs);
          throw err;
        }
        const durationNs = Number(process.hrtime.bigint() - t0);
        record(key, file, name, fn, before, args, { result }, durationNs);
        return result;
      },
    });
    proxies.add(proxy);
    proxyOf.set(fn, proxy);
    return proxy;
  }
  /**
   * @param {string} key
   * @param {string} file
   * @param {string} name
   * @param {Function} fn
   * @param {unknown} before the arguments, serialised before the call
   * @param {unknown[]} args
   * @param {{ error: unknown } | { result: any }} outcome
   * @param {number} durationNs
   */
  function record(key, file, name, fn, before, args, outcome, durationNs) {
    try {
      const after = serialise(args);
      /** @type {{ args: unknown, durationNs: number, mutated: boolean, error?: unknown, result?: unknown }} */
      const sample = { args: before, durationNs, mutated: JSON.stringify(before) !== JSON.stringify(after) };
      if ('error' in outcome) sample.error = serialiseError(outcome.error);
      else if (outcome.result && typeof outcome.result.then === 'function') sample.result = '[Promise]';
      else sample.result = serialise(outcome.result);
      write({ type: 'call', file, name, fnName: fn.name, test: current || (nodeTestFile ? currentNodeTest() : null), sample });
    } catch (e) {}
  }
  /** @param {unknown} e */
  function serialiseError(e) {
    if (e && typeof e === 'object') {
      const out = serialise(e);
      return out;
    }
    return { thrown: serialise(e) };
  }
  /**
   * @param {any} cls
   * @param {string} file
   * @param {string} name
   */
  function instrumentClass(cls, file, name) {
    if (instrumented.has(cls)) return;
    instrumented.add(cls);
    const proto = cls.prototype;
    if (proto && typeof proto === 'object') {
      for (const k of Object.getOwnPropertyNames(proto)) {
        if (k === 'constructor') continue;
        const d = Object.getOwnPropertyDescriptor(proto, k);
        if (d && typeof d.value === 'function' && d.writable && d.configurable && !isClass(d.value)) {
          origDefineProperty(proto, k, { ...d, value: wrap(d.value, file, name + '.' + k) });
        }
      }
    }
    for (const k of Object.getOwnPropertyNames(cls)) {
      if (k === 'prototype' || k === 'length' || k === 'name') continue;
      const d = Object.getOwnPropertyDescriptor(cls, k);
      if (d && typeof d.value === 'function' && d.writable && d.configurable && !isClass(d.value)) {
        origDefineProperty(cls, k, { ...d, value: wrap(d.value, file, name + '.' + k) });
      }
    }
  }
  /**
   * @param {any} value
   * @param {string} file
   * @param {string} name
   */
  function instrumentValue(value, file, name) {
    if (typeof value !== 'function' || proxies.has(value)) return value;
    // A jest.fn() / vi.fn() the module exports: a mock, not the module's code.
    if (value._isMockFunction === true) return value;
    if (isClass(value) || (value.prototype && Object.getOwnPropertyNames(value.prototype).length > 1)) {
      instrumentClass(value, file, value.name || name);
      return value;
    }
    return wrap(value, file, name);
  }
  /**
   * The exports with their functions wrapped (the same object, or a view of it when its properties cannot be redefined).
   * @param {any} exp
   * @param {string} file
   * @returns {any}
   */
  function instrumentExports(exp, file) {
    if (!exp || (typeof exp !== 'object' && typeof exp !== 'function') || instrumented.has(exp) || proxies.has(exp)) return exp;
    if (typeof exp === 'function') {
      const wrapped = instrumentValue(exp, file, exp.name || 'default');
      instrumented.add(exp);
      return wrapped;
    }
    instrumented.add(exp);
    let sealed = null;
    for (const k of Object.keys(exp)) {
      const d = Object.getOwnPropertyDescriptor(exp, k);
      if (!d) continue;
      if (d.get && !d.configurable) { (sealed || (sealed = new Set())).add(k); continue; }
      if ('value' in d) {
        if (typeof d.value !== 'function') continue;
        const v = instrumentValue(d.value, file, k);
        if (v !== d.value && d.writable && d.configurable) origDefineProperty(exp, k, { ...d, value: v });
        else if (v !== d.value && d.writable) exp[k] = v;
      } else if (d.get && d.configurable) {
        // A live binding (babel re-exports, vite's SSR exports): keep it live, hand out the wrapper.
        const get = d.get;
        origDefineProperty(exp, k, {
          ...d,
          get() {
            const v = get.call(this);
            try { return instrumentValue(v, file, k); } catch (e) { return v; }
          },
        });
      }
    }
    if (sealed) {
      // esbuild's CommonJS output (tsx, ts-node with swc/esbuild) defines exports as
      // non-configurable getters, which cannot be redefined: the module's exports are
      // handed out through a Proxy whose get wraps those functions (Proxy invariants
      // allow any value for an accessor property). Only a require after the load sees it.
      const keys = sealed;
      const view = new Proxy(exp, {
        get(target, key, receiver) {
          const v = Reflect.get(target, key, receiver);
          if (typeof key !== 'string' || !keys.has(key) || typeof v !== 'function') return v;
          try { return instrumentValue(v, file, key); } catch (e) { return v; }
        },
      });
      instrumented.add(view);
      return view;
    }
    return exp;
  }
  const origCompile = Module.prototype._compile;
  /**
   * @this {any}
   * @param {unknown} content
   * @param {string} filename
   */
  Module.prototype._compile = function _compile(content, filename) {
    try {
      const file = workspacePath(filename);
      if (file && typeof content === 'string') compiledSources.set(file, content);
    } catch (e) {}
    return origCompile.apply(this, arguments);
  };
  const origLoad = Module.prototype.load;
  /**
   * @this {any}
   * @param {string} filename
   */
  Module.prototype.load = function load(filename) {
    const r = origLoad.apply(this, arguments);
    try {
      const file = workspacePath(filename);
      if (file) {
        const exp = instrumentExports(this.exports, file);
        if (exp !== this.exports) this.exports = exp;
      } else if (typeof filename === 'string' && jestRuntimeFile.test(filename)) hookJestRuntime(this.exports);
    } catch (e) {}
    return r;
  };
  /** @param {any} ws vitest's worker state */
  function instrumentViteModules(ws) {
    const cache = ws.moduleCache;
    if (!cache || typeof cache.forEach !== 'function') return;
    cache.forEach((/** @type {any} */ mod, /** @type {unknown} */ id) => {
      try {
        const file = workspacePath(typeof id === 'string' ? id.split('?')[0] : '');
        if (file && mod && mod.exports && mod.evaluated !== false) instrumentExports(mod.exports, file);
      } catch (e) {}
    });
  }

  // ---- a safe serialiser: JSON-safe, cycles, class instances, caps ----
  const MAX_DEPTH = 6, MAX_ITEMS = 50, MAX_STRING = 1000, MAX_NODES = 2000;
  const ObjProto = Object.prototype;
  // Values may come from another realm (jest runs tests in a vm context): brand checks, not instanceof.
  const types = require('util').types;
  /** @param {object} proto */
  function isObjectPrototype(proto) {
    if (proto === ObjProto) return true;
    if (Object.getPrototypeOf(proto) !== null) return false;
    const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor');
    return !!ctor && typeof ctor.value === 'function' && ctor.value.name === 'Object' && ctor.value.prototype === proto && /\[native code\]\s*\}$/.test(FnToString.call(ctor.value));
  }
  /**
   * @param {unknown} value
   * @returns {unknown} JSON-safe
   */
  function serialise(value) {
    const seen = new Set();
    let nodes = 0;
    /** @param {number} n */
    function more(n) { return '…(truncated: ' + n + ' more)'; }
    /**
     * @param {any} v
     * @param {number} depth
     * @returns {unknown}
     */
    function s(v, depth) {
      if (v === null) return null;
      const t = typeof v;
      if (t === 'boolean') return v;
      if (t === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { __type: 'number', value: Object.is(v, -0) ? '-0' : String(v) };
      if (t === 'string') return v.length > MAX_STRING ? v.slice(0, MAX_STRING) + more(v.length - MAX_STRING) : v;
      if (t === 'undefined') return { __type: 'undefined' };
      if (t === 'bigint') return { __type: 'bigint', value: v.toString() };
      if (t === 'symbol') return { __type: 'symbol', value: v.toString() };
      if (t === 'function') return '[Function ' + (v.name || 'anonymous') + ']';
      if (seen.has(v)) return '[Circular]';
      if (depth >= MAX_DEPTH || ++nodes > MAX_NODES) return '[Truncated]';
      seen.add(v);
      try {
        if (Array.isArray(v)) {
          /** @type {unknown[]} */
          const a = [];
          const n = Math.min(v.length, MAX_ITEMS);
          for (let i = 0; i < n; i++) a.push(s(v[i], depth + 1));
          if (v.length > n) a.push(more(v.length - n));
          return a;
        }
        if (types.isDate(v)) { const time = Date.prototype.getTime.call(v); return { __type: 'Date', value: Number.isNaN(time) ? 'Invalid Date' : new Date(time).toISOString() }; }
        if (types.isRegExp(v)) return { __type: 'RegExp', value: RegExp.prototype.toString.call(v) };
        if (v instanceof Error || types.isNativeError(v)) {
          /** @type {Record<string, unknown>} */
          const o = { __type: 'Error', name: String(v.name), message: String(v.message) };
          for (const k of Object.keys(v)) { const d = Object.getOwnPropertyDescriptor(v, k); if (d && 'value' in d) o[k] = s(d.value, depth + 1); }
          return o;
        }
        if (types.isMap(v)) {
          /** @type {unknown[]} */
          const entries = [];
          let i = 0;
          for (const [k, val] of Map.prototype.entries.call(v)) { if (i++ >= MAX_ITEMS) { entries.push(more(v.size - MAX_ITEMS)); break; } entries.push([s(k, depth + 1), s(val, depth + 1)]); }
          return { __type: 'Map', entries };
        }
        if (types.isSet(v)) {
          const values = [];
          let i = 0;
          for (const val of Set.prototype.values.call(v)) { if (i++ >= MAX_ITEMS) { values.push(more(v.size - MAX_ITEMS)); break; } values.push(s(val, depth + 1)); }
          return { __type: 'Set', values };
        }
        if (ArrayBuffer.isView(v)) {
          /** @type {any} */
          const view = v;
          const len = view.length !== undefined ? view.length : view.byteLength;
          const values = [];
          if (view.length !== undefined) for (let i = 0; i < Math.min(len, MAX_ITEMS); i++) values.push(typeof view[i] === 'bigint' ? view[i].toString() : view[i]);
          if (len > MAX_ITEMS) values.push(more(len - MAX_ITEMS));
          return { __type: (view.constructor && view.constructor.name) || 'TypedArray', length: len, values };
        }
        if (types.isPromise(v)) return '[Promise]';
        /** @type {Record<string, unknown>} */
        const o = {};
        const proto = Object.getPrototypeOf(v);
        if (proto !== null && !isObjectPrototype(proto)) {
          const ctor = proto && Object.getOwnPropertyDescriptor(proto, 'constructor');
          o.__class = (ctor && typeof ctor.value === 'function' && ctor.value.name) || 'Object';
        }
        const keys = Object.keys(v);
        const n = Math.min(keys.length, MAX_ITEMS);
        for (let i = 0; i < n; i++) {
          const d = Object.getOwnPropertyDescriptor(v, keys[i]);
          o[keys[i]] = d && 'value' in d ? s(d.value, depth + 1) : '[Getter]';
        }
        if (keys.length > n) o['…'] = more(keys.length - n);
        return o;
      } catch (e) {
        return '[Unserialisable]';
      } finally {
        seen.delete(v);
      }
    }
    return s(value, 0);
  }
  state.serialise = serialise;
  return state;
}
