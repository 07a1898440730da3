/**
 * Where a rendered template goes: written atomically (a temporary file in the same directory,
 * flushed, then renamed over the target), so that a reader (a proxy reloading its config) sees
 * the old file or the new one, never half of one; and the command to run after a change.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The file's current content, or undefined when there is none. */
export function currentContent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Writes `text` to `path` atomically. Keeps the mode of the file it replaces (0644 for a new
 * one). Returns false, touching nothing, when the file already holds `text`.
 */
export function writeAtomically(path: string, text: string): boolean {
  if (currentContent(path) === text) return false;
  let mode = 0o644;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // A new file.
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return true;
}

/** Runs `command` with `sh -c`, inheriting stdout and stderr; resolves with its exit code. */
export function runCommand(command: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
    }, timeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}
