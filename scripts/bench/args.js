// Command-line flags shared by the bench scripts: `flag('--x')` is true when given,
// `option('--x')` the word after it (undefined when absent), and the flags every bench takes.
export function benchArgs(argv = process.argv.slice(2)) {
  const flag = (name) => argv.includes(name);
  const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  return {
    flag,
    option,
    quick: flag('--quick'),
    asJson: flag('--json'),
    cpuProfDir: option('--cpu-prof'),
    only: option('--only')?.split(','),
  };
}
