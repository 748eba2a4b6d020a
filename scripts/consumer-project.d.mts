export const repoRoot: string;
/** The version of a dev dependency the repository has installed, to install the same from npm's cache. */
export function installedVersion(name: string): string;
export interface ConsumerProject {
  /** The project: its package.json, its node_modules. */
  dir: string;
  tarball: string;
  /** The installed package, `<dir>/node_modules/weft`. */
  packageDir: string;
  remove(): void;
}
/** Packs the repository and installs the tarball, and `also`, into a new temporary project. */
export function createConsumerProject(options?: { also?: string[] }): ConsumerProject;
