// Resolve hook for running the project's TypeScript test support (the seeded simulations) from
// a benchmark script with Node's built-in type stripping: the sources import each other as
// `./x.js` (what tsc emits); where no such .js file exists, the .ts beside it is loaded instead.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('/'))) {
      return next(`${specifier.slice(0, -3)}.ts`, context);
    }
    throw err;
  }
}
