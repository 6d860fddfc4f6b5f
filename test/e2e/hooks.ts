/**
 * Mocha root hook plugin (listed under "require" in .mocharc.json): after the last test of
 * the run, pass or fail, ends the code-server and Chromium that the e2e specs share.
 * A run without e2e specs never loads ./session and pays nothing here.
 */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    const session = require.resolve('./session');
    if (!require.cache[session]) return;
    this.timeout(30_000);
    await (require(session) as typeof import('./session')).stopE2eSession();
  },
};
