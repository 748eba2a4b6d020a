/**
 * Once for the consumer tests: weft packed and installed from its tarball, with fake-indexeddb
 * and @types/node,
 * into a fresh project in the system's temporary directory, removed afterwards. Each test works
 * in a folder of its own inside that project, so `weft` resolves to the installed package.
 */
import type { TestProject } from 'vitest/node';
import { createConsumerProject, installedVersion } from '../../scripts/consumer-project.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The consumer project (its node_modules holds weft from the tarball). */
    consumerProject: string;
  }
}

export default function setup(project: TestProject): () => void {
  const consumer = createConsumerProject({
    also: [
      `fake-indexeddb@${installedVersion('fake-indexeddb')}`,
      // For the TypeScript program with Node's types and no DOM.
      `@types/node@${installedVersion('@types/node')}`,
    ],
  });
  project.provide('consumerProject', consumer.dir);
  return () => consumer.remove();
}
