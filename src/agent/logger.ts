/** Structured logs (pino) to stderr, so stdout stays free for command output. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, name = 'smac'): Logger {
  return pino({ name, level }, pino.destination(2));
}
