/** Settings normalisation (shared by the server and the CLI) and the one formatter of measurements. */
import * as assert from 'node:assert/strict';
import { defaultSettings, normalizeSettings, settingsChanges } from '../../server/src/settings';
import { formatNs, formatRateInterval, formatRatio } from '../../server/src/format';

describe('settings', () => {
  it('are the defaults when nothing is set', () => {
    assert.deepEqual(normalizeSettings(), defaultSettings);
    assert.deepEqual(normalizeSettings(null, undefined, {}), defaultSettings);
  });

  it('replace values of the wrong type or out of range by their defaults, and keep the good ones', () => {
    const s = normalizeSettings({
      maxFileSizeBytes: -1,
      exclude: ['a/**', 42 as unknown as string],
      ollama: { host: 7 as unknown as string, models: ['m1', '', 3 as unknown as string], timeoutSeconds: 0 },
      test: { command: '  npm test  ', timeoutSeconds: 'soon' as unknown as number },
      bench: { maxSecondsPerArtifact: 0.5 },
      optimize: { minSpeedup: 0.9, budget: 7.8 },
      diagnostics: { drift: false },
    });
    assert.equal(s.maxFileSizeBytes, defaultSettings.maxFileSizeBytes);
    assert.deepEqual(s.exclude, ['a/**']);
    assert.deepEqual(s.ollama, { ...defaultSettings.ollama, models: ['m1'] });
    assert.deepEqual(s.test, { command: 'npm test', timeoutSeconds: defaultSettings.test.timeoutSeconds });
    assert.equal(s.bench.maxSecondsPerArtifact, defaultSettings.bench.maxSecondsPerArtifact, 'at least 1 s');
    assert.deepEqual(s.optimize, { minSpeedup: defaultSettings.optimize.minSpeedup, budget: 7 });
    assert.deepEqual(s.diagnostics, { parseErrors: true, drift: false });
  });

  it('merge layers key by key, later layers winning (initialization options, then the pulled configuration)', () => {
    const s = normalizeSettings({ ollama: { host: 'http://127.0.0.1:1', models: ['a'] } }, { ollama: { models: ['b'] }, test: { command: 'mocha' } });
    assert.equal(s.ollama.host, 'http://127.0.0.1:1');
    assert.deepEqual(s.ollama.models, ['b']);
    assert.equal(s.test.command, 'mocha');
  });

  it('say what a change asks of a folder', () => {
    const base = normalizeSettings();
    assert.deepEqual(settingsChanges(base, normalizeSettings({ maxFileSizeBytes: 10 })), { walk: true, embedder: false, diagnostics: false });
    assert.deepEqual(settingsChanges(base, normalizeSettings({ ollama: { embedModel: 'e' } })), { walk: false, embedder: true, diagnostics: false });
    assert.deepEqual(settingsChanges(base, normalizeSettings({ test: { command: 'x' } })), { walk: false, embedder: false, diagnostics: false });
  });
});

describe('formatting of measurements', () => {
  it('prints durations in one ladder of units', () => {
    assert.deepEqual([11, 850, 1234, 12_345, 4.56e6, 45.6e6, 1.2e9].map(formatNs), ['0.011 µs', '0.85 µs', '1.23 µs', '12.3 µs', '4.56 ms', '45.6 ms', '1.20 s']);
  });
  it('prints ratios and rates with their precision', () => {
    assert.deepEqual([1.234, 2.44, 14.6].map(formatRatio), ['1.23×', '2.4×', '15×']);
    assert.equal(formatRateInterval(0.62, 0.411, 0.8), '62% [41–80%]');
  });
});
