import { defineConfig } from 'vitest/config';

/**
 * Tests whose assertions depend on real time across real processes (failure detection over the
 * emulated WAN, the nemesis) run in a second, serial phase (vitest.serial.config.ts), after
 * everything else, so that no other test file competes with them for the two cores.
 */
export const SERIAL_TESTS = ['test/wan/detection.test.ts', 'test/chaos/nemesis.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...SERIAL_TESTS],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
