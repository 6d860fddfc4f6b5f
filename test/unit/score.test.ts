import * as assert from 'node:assert/strict';
import type { ArtifactRunEvidence } from '../../server/src/evidence/model';
import { type ScoreInput, scoreArtifact, scoreInputFromHistory, scoreWeights } from '../../server/src/evidence/score';

const full: ScoreInput = {
  tests: { passed: 8, failed: 2 },
  coverage: { covered: 30, coverable: 40 },
  speed: { ratio: 1.2, ciLow: 1.1, ciHigh: 1.3 },
  usage: { calls: 100, callers: 3 },
};

describe('quality score', () => {
  it('stays within [0, 1] with each dimension in [0, 1]', () => {
    const extremes: ScoreInput[] = [
      full,
      { tests: { passed: 0, failed: 5 }, coverage: { covered: 0, coverable: 10 }, speed: { ratio: 50 }, usage: { calls: 0, callers: 0 } },
      { tests: { passed: 5, failed: 0 }, coverage: { covered: 12, coverable: 10 }, speed: { ratio: 0.1 }, usage: { calls: 1e9, callers: 1e6 } },
    ];
    for (const input of extremes) {
      const s = scoreArtifact(input);
      assert.ok(s.score! >= 0 && s.score! <= 1, `${s.score}`);
      for (const v of Object.values(s.dimensions)) assert.ok(v >= 0 && v <= 1);
    }
    assert.equal(scoreArtifact(extremes[1]).score, 0);
    assert.equal(scoreArtifact(extremes[2]).score, 1);
  });

  it('combines the documented formula', () => {
    const s = scoreArtifact(full);
    const speed = 1 - Math.log2(1.2);
    const usage = (Math.log1p(100) / Math.log1p(1000) + Math.log1p(3) / Math.log1p(10)) / 2;
    const expected = (0.4 * 0.8 + 0.25 * 0.75 + 0.2 * speed + 0.15 * usage) / (0.4 + 0.25 + 0.2 + 0.15);
    assert.ok(Math.abs(s.score! - expected) < 1e-12);
    assert.deepEqual(s.present, ['success', 'coverage', 'speed', 'usage']);
    assert.deepEqual(s.missing, []);
    assert.equal(Object.values(scoreWeights).reduce((a, b) => a + b, 0), 1);
  });

  it('is monotonic in each dimension', () => {
    const at = (patch: Partial<ScoreInput>) => scoreArtifact({ ...full, ...patch }).score!;
    let prev = -1;
    for (const passed of [0, 2, 5, 9, 10]) {
      const s = at({ tests: { passed, failed: 10 - passed } });
      assert.ok(s > prev);
      prev = s;
    }
    prev = -1;
    for (const covered of [0, 10, 20, 40]) {
      const s = at({ coverage: { covered, coverable: 40 } });
      assert.ok(s > prev);
      prev = s;
    }
    prev = 2;
    for (const ratio of [1, 1.1, 1.5, 1.9]) {
      const s = at({ speed: { ratio } });
      assert.ok(s < prev, `slower ratio ${ratio} must score lower`);
      prev = s;
    }
    assert.equal(at({ speed: { ratio: 0.5 } }), at({ speed: { ratio: 1 } }), 'faster than baseline is full marks, not more');
    assert.equal(at({ speed: { ratio: 1.3, ciLow: 0.9, ciHigh: 1.6 } }), at({ speed: { ratio: 1 } }), 'a ratio indistinguishable from 1 is no change');
    prev = -1;
    for (const calls of [0, 10, 100, 1000]) {
      const s = at({ usage: { calls, callers: 3 } });
      assert.ok(s > prev);
      prev = s;
    }
  });

  it('renormalises over the dimensions present and says which', () => {
    const noTests = scoreArtifact({ coverage: { covered: 10, coverable: 10 }, usage: { calls: 1000, callers: 10 } });
    assert.equal(noTests.score, 1);
    assert.deepEqual(noTests.present, ['coverage', 'usage']);
    assert.deepEqual(noTests.missing, ['success', 'speed']);
    assert.equal(noTests.dimensions.success, undefined);

    const allSkipped = scoreArtifact({ tests: { passed: 0, failed: 0 } });
    assert.equal(allSkipped.score, undefined);
    assert.deepEqual(allSkipped.missing, ['success', 'coverage', 'speed', 'usage']);

    const onlyCallers = scoreArtifact({ usage: { callers: 10 } });
    assert.equal(onlyCallers.score, 1);
  });

  it('is deterministic and reads history the way drift does', () => {
    const h: ArtifactRunEvidence[] = [
      { runId: 'r1', at: '2025-01-01T00:00:00Z', hash: 'a', tests: [{ testId: 't1', status: 'passed', durationMs: 1 }], coveredLines: 9, coverableLines: 10, calls: 50, errors: 0 },
      { runId: 'r2', at: '2025-01-02T00:00:00Z', hash: 'a', tests: [], bench: { samplesNs: [100, 101, 99], medianNs: 100, ciLowNs: 99, ciHighNs: 101 } },
      { runId: 'r3', at: '2025-01-03T00:00:00Z', hash: 'b', tests: [], bench: { samplesNs: [200, 201, 199], medianNs: 200, ciLowNs: 199, ciHighNs: 201 } },
      { runId: 'r4', at: '2025-01-04T00:00:00Z', hash: 'b', tests: [{ testId: 't1', status: 'failed', durationMs: 1 }, { testId: 't2', status: 'passed', durationMs: 1 }, { testId: 't3', status: 'skipped', durationMs: 0 }] },
    ];
    const input = scoreInputFromHistory(h, 2);
    assert.deepEqual(input.tests, { passed: 1, failed: 1 });
    assert.deepEqual(input.coverage, { covered: 9, coverable: 10 });
    assert.equal(input.speed!.ratio, 2);
    assert.deepEqual(input.usage, { calls: 50, callers: 2 });
    const s = scoreArtifact(input);
    assert.equal(s.dimensions.speed, 0);
    assert.deepEqual(scoreArtifact(scoreInputFromHistory(h, 2)), s);
    assert.deepEqual(scoreInputFromHistory([]), {});
  });
});
