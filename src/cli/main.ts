import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { modelsCommand } from './models.js';
import { summaryCommand } from './summary.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { predictCommand } from './predict.js';
import { exportCommand } from './export.js';
import { serveCommand } from './serve.js';
import { joinWorld } from '../distributed/world.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf-8')) as {
  version: string;
};

export function buildProgram(): Command {
  return new Command('resnext')
    .description('ResNeXt image classification in TypeScript: define, inspect, train and run ResNeXt models')
    .version(pkg.version)
    .addCommand(trainCommand())
    .addCommand(evalCommand())
    .addCommand(predictCommand())
    .addCommand(exportCommand())
    .addCommand(serveCommand())
    .addCommand(summaryCommand())
    .addCommand(modelsCommand())
    .showHelpAfterError('(run with --help for usage)');
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const { world } = joinWorld();
    if (world.size > 1) {
      // One rank failing ends the job: the others would wait for it in the next allreduce.
      console.error(`resnext: rank ${world.rank} of ${world.size}: ${(err as Error).message}`);
      world.abort(1);
    }
    console.error(`resnext: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
