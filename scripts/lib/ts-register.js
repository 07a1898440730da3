// `node --import ./scripts/lib/ts-register.js x.js`: lets a script import the TypeScript
// simulations under test/ (see ts-hooks.js).
import { register } from 'node:module';

register('./ts-hooks.js', import.meta.url);
