/**
 * Testing workflows and activities, as `@temporalio/testing`: an engine whose time skips
 * (`TestWorkflowEnvironment.createTimeSkipping`), one on real time (`createLocal`), and a
 * context for activities alone (`MockActivityEnvironment`). Runs in Node and in browsers;
 * no server to download.
 */
export type { ActivityInfo } from '../worker/activity.ts';
export { Context } from '../worker/activity.ts';
export { TestWorkflowEnvironment, type TestWorkflowEnvironmentOptions } from './environment.ts';
export { defaultActivityInfo, MockActivityEnvironment } from './mock-activity.ts';
