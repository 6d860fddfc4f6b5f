import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeWorkerEnd, superviseWorker, type WorkerEnd } from '../../server/src/evidence/runtime/supervise';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('superviseWorker: one leash for every worker process', function () {
  this.timeout(30_000);
  let dir: string;
  const program = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crucible-supervise-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('kills a hanging worker at its time limit and reports the time', async () => {
    const started = Date.now();
    const end = await superviseWorker({ program: { node: program('hang.cjs', 'setInterval(() => {}, 1000);\n') }, args: [], cwd: dir, env: process.env, messages: 'ipc', timeLimitMs: 800 });
    assert.equal(end.how, 'timedOut');
    assert.ok(Date.now() - started < 5000, 'stopped soon after the limit');
    assert.match(describeWorkerEnd(end, { name: 'the test worker', where: 'during call #2' }), /^timed out: still running during call #2 after 0\.8 s: the test worker was killed$/);
  });

  it('reports a worker that exhausts its memory limit as out of memory', async () => {
    const hog = program('hog.cjs', 'const keep = [];\nfor (;;) keep.push(new Array(1e5).fill({ x: Math.random() }));\n');
    const end = await superviseWorker({ program: { node: hog }, args: [], cwd: dir, env: process.env, messages: 'ipc', timeLimitMs: 20_000, memoryLimitMb: 32 });
    assert.equal(end.how, 'exited');
    assert.equal(end.outOfMemory, true, end.tail);
    assert.match(describeWorkerEnd(end, { name: 'the test worker' }), /^the test worker ran out of memory \(heap limit 32 MB\)/);
  });

  it('aborting kills the whole process group, a grandchild included', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const parent = program(
      'parent.cjs',
      `const { spawn } = require('node:child_process');\nconst c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });\nrequire('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));\nprocess.send({ type: 'ready' });\nsetInterval(() => {}, 1000);\n`,
    );
    const abort = new AbortController();
    let workerPid: number | undefined;
    const end = await superviseWorker<{ type: string }>({
      program: { node: parent },
      args: [],
      cwd: dir,
      env: process.env,
      messages: 'ipc',
      timeLimitMs: 20_000,
      signal: abort.signal,
      onSpawn: (pid) => (workerPid = pid),
      onMessage: (m) => {
        if (m.type === 'ready') abort.abort();
      },
    });
    assert.equal(end.how, 'cancelled');
    assert.equal(describeWorkerEnd(end, { name: 'the test worker' }), 'cancelled');
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(grandchild > 0);
    assert.equal(alive(grandchild), false, `grandchild ${grandchild} still alive`);
    assert.equal(alive(workerPid!), false);
  });

  it('keeps only a bounded tail of stderr, and reports a normal exit with its code and that tail', async () => {
    const noisy = program('noisy.cjs', "for (let i = 0; i < 5000; i++) process.stderr.write('line ' + i + ' ' + 'x'.repeat(40) + '\\n');\nprocess.stderr.write('the last words\\n', () => process.exit(3));\n");
    const end: WorkerEnd = await superviseWorker({ program: { node: noisy }, args: [], cwd: dir, env: process.env, messages: 'ipc', timeLimitMs: 20_000, tailChars: 1000 });
    assert.equal(end.how, 'exited');
    assert.equal(end.exitCode, 3);
    assert.ok(end.tail.length <= 1000, `tail of ${end.tail.length} characters`);
    assert.ok(end.tail.endsWith('the last words\n'), end.tail.slice(-100));
    assert.match(describeWorkerEnd(end, { name: 'the test worker', exitHint: '(does it call process.exit?)' }), /^the test worker exited with code 3 before reporting \(does it call process\.exit\?\): .*the last words$/);
  });

  it('delivers messages, stops the worker when the caller has its answer, and streams output lines of a spawned command', async () => {
    const answer = program('answer.cjs', "process.send({ type: 'done', value: 42 });\nsetInterval(() => {}, 1000);\n");
    let value: number | undefined;
    const end = await superviseWorker<{ type: string; value: number }>({
      program: { node: answer },
      args: [],
      cwd: dir,
      env: process.env,
      messages: 'ipc',
      timeLimitMs: 20_000,
      onMessage: (m, stop) => {
        value = m.value;
        stop();
      },
    });
    assert.equal(value, 42);
    assert.equal(end.how, 'stopped');

    const lines: string[] = [];
    const shell = await superviseWorker({ program: { command: 'sh' }, args: ['-c', 'echo one; echo two >&2; exit 0'], cwd: dir, env: process.env, timeLimitMs: 20_000, onOutput: (line) => lines.push(line) });
    assert.equal(shell.how, 'exited');
    assert.equal(shell.exitCode, 0);
    assert.deepEqual(lines.sort(), ['one', 'two']);
  });

  it('reports a command that cannot start', async () => {
    const end = await superviseWorker({ program: { command: path.join(dir, 'no-such-program') }, args: [], cwd: dir, env: process.env, timeLimitMs: 5000 });
    assert.equal(end.how, 'spawnFailed');
    assert.equal(end.spawnError?.code, 'ENOENT');
    assert.match(describeWorkerEnd(end, { name: 'the test worker' }), /^cannot start the test worker: /);
  });
});
