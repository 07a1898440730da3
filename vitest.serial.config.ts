import { defineConfig } from 'vitest/config';
import { SERIAL_TESTS } from './vitest.config.js';

/** The timing-sensitive real-process tests, one file at a time (see vitest.config.ts). */
export default defineConfig({
  test: {
    include: SERIAL_TESTS,
    testTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
