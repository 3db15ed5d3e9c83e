import { Command } from 'commander';
import { createModel, getModelInfo, listModels } from '../models/registry.js';
import { onMetaDevice } from '../nn/parameter.js';

export function modelsCommand(): Command {
  return new Command('models')
    .description('list the available architectures with their parameter counts')
    .action(() => {
      for (const name of listModels()) {
        const info = getModelInfo(name);
        const params = onMetaDevice(() => createModel(name)).parameterCount();
        console.log(
          `${name.padEnd(26)} ${params.toLocaleString('en-US').padStart(12)} params  ${info.description}`,
        );
      }
    });
}
